"""Payload rules Avro cannot express: penalty decisions, leads, transfers, actions, links."""

from __future__ import annotations

import re
from typing import Any

from casebus.contracts import codes
from casebus.contracts.checks import Checks

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_URL = re.compile(r"^https?://[^\s/]+", re.IGNORECASE)

_PENALTY_TEXT = (
    "party_name",
    "decision_no",
    "violation_type",
    "violation_facts",
    "legal_basis",
    "penalty_content",
    "authority_name",
    "source_org",
)


def penalty(c: Checks, p: dict[str, Any], event_type: object) -> None:
    path = "penalty"
    for key in _PENALTY_TEXT:
        c.text(p, key, path)
    c.code(p, "party_category", codes.PARTY_CATEGORIES, path, "party category")
    category = p.get("party_category")
    if category in codes.ORGANISATIONS:
        c.text(p, "party_uscc", path)
        c.text(p, "legal_rep_name", path)
    elif category == "NATURAL_PERSON":
        c.text(p, "person_id_type", path)
        c.text(p, "person_id_no", path)
    c.resident_id(p, "person_id_no", path, type_key="person_id_type")
    c.resident_id(p, "legal_rep_id_no", path, type_key="legal_rep_id_type")
    if c.uscc(p, "party_uscc", path):
        c.text(p, "reg_no", path)  # placeholder code: the registration number identifies
    c.uscc(p, "authority_uscc", path, placeholder_ok=False)
    c.uscc(p, "source_org_uscc", path, placeholder_ok=False)

    categories = p.get("penalty_categories")
    if isinstance(categories, list):
        if not categories:
            c.add(
                f"{path}.penalty_categories", "required", categories, "needs at least one category"
            )
        c.codes(p, "penalty_categories", codes.PENALTY_CATEGORIES, path, "penalty category (01-14)")
        if len(set(categories)) != len(categories):
            c.add(f"{path}.penalty_categories", "duplicate", categories, "lists a category twice")
        if codes.FINE in categories and p.get("fine_amount") is None:
            c.add(f"{path}.fine_amount", "required", None, "is required with category 02 罚款")
    c.amount(p, "fine_amount", path)
    c.amount(p, "confiscated_amount", path)

    decided = c.day(p, "decision_date", path)
    for key in ("effective_until", "publicity_until"):
        until = p.get(key)
        if decided is not None and until is not None and hasattr(until, "year") and until < decided:
            c.add(f"{path}.{key}", "order", until, f"{until} is before decision_date {decided}")
    if event_type == "PENALTY_REVOKED":
        c.text(p, "revoke_reason", path)


def lead(c: Checks, d: dict[str, Any], event_type: object) -> None:
    path = "lead"
    for key in ("lead_no", "seller_name", "shop_name", "shop_url", "description"):
        c.text(d, key, path)
    c.code(d, "source", codes.LEAD_SOURCES, path, "lead source")
    if d.get("source") == "PLATFORM":
        c.text(d, "platform", path)
    platform = d.get("platform")
    if isinstance(platform, str) and platform not in c.known.platforms:
        c.add(f"{path}.platform", "code", platform, f"{platform!r} is not a known platform")
    c.uscc(d, "seller_uscc", path, placeholder_ok=False)
    _url(c, d, "shop_url", path)
    items = d.get("items")
    if isinstance(items, list):
        if not items:
            c.add(f"{path}.items", "required", items, "needs at least one listing")
        for i, item in enumerate(items):
            if isinstance(item, dict):
                _url(c, item, "listing_url", f"{path}.items[{i}]")
                c.text(item, "title", f"{path}.items[{i}]")
    c.code(d, "infringement_type", codes.INFRINGEMENT_TYPES, path, "infringement type")
    evidence = d.get("evidence")
    if isinstance(evidence, list):
        if not evidence:
            c.add(f"{path}.evidence", "required", evidence, "needs at least one piece of evidence")
        for i, piece in enumerate(evidence):
            if isinstance(piece, dict):
                sub = f"{path}.evidence[{i}]"
                c.text(piece, "uri", sub)
                digest = piece.get("sha256")
                if isinstance(digest, str) and not _SHA256.match(digest):
                    c.add(f"{sub}.sha256", "sha256", digest, "is not 64 lower-case hex digits")
                c.instant(piece, "captured_at", sub)
    c.codes(d, "platform_actions", codes.PLATFORM_ACTIONS, path, "platform action")
    c.code(d, "status", codes.LEAD_STATUSES, path, "lead status")
    c.owner(d, "jurisdiction_owner", path)
    regions = d.get("target_regions")
    if isinstance(regions, list):
        for i, region in enumerate(regions):
            c.region(region, f"{path}.target_regions[{i}]")
    c.resident_id(d, "seller_id_no", path)
    informant = d.get("informant")
    if isinstance(informant, dict):
        c.text(informant, "name", f"{path}.informant")
        c.resident_id(informant, "id_no", f"{path}.informant", type_key="id_type")


def transfer(c: Checks, t: dict[str, Any], event_type: object) -> None:
    path = "action"
    c.code(t, "kind", codes.TRANSFER_KINDS, path, "transfer kind")
    c.owner(t, "from_owner", path)
    c.owner(t, "to_owner", path)
    c.text(t, "document_no", path)
    materials = t.get("materials")
    if isinstance(materials, list):
        for i, material in enumerate(materials):
            if isinstance(material, dict):
                sub = f"{path}.materials[{i}]"
                c.code(material, "kind", codes.MATERIAL_KINDS, sub, "material kind")
                c.text(material, "title", sub)
    c.code(t, "decision", codes.TRANSFER_DECISIONS, path, "transfer decision")
    if t.get("decision") == "NOT_FILED":
        c.text(t, "decision_reason", path)
    if event_type == "TRANSFER_DECIDED":
        c.text(t, "decision", path)
        if t.get("decided_at") is None:
            c.add(f"{path}.decided_at", "required", None, "is required on transfer.decided")
    for key in (
        "approved_at",
        "sent_at",
        "decided_at",
        "reconsideration_requested_at",
        "seized_items_handed_over_at",
    ):
        c.instant(t, key, path)
    for key in (
        "decide_due",
        "send_due",
        "file_decision_due",
        "reconsideration_due",
        "seized_items_due",
    ):
        c.instant(t, key, path, future_ok=True)  # deadlines lie ahead


def enforcement_action(c: Checks, a: dict[str, Any], event_type: object) -> None:
    path = "action"
    c.code(a, "kind", codes.ACTION_KINDS, path, "enforcement action kind")
    c.text(a, "party_name", path)
    c.uscc(a, "party_uscc", path, placeholder_ok=False)
    c.day(a, "action_date", path)
    c.text(a, "content", path)
    c.owner(a, "by", path)


def case_link(c: Checks, link: dict[str, Any], event_type: object) -> None:
    path = "action"
    ids = link.get("linked_case_ids")
    if isinstance(ids, list) and not ids:
        c.add(f"{path}.linked_case_ids", "required", ids, "needs at least one linked case")
    c.text(link, "reason", path)


def _url(c: Checks, obj: dict[str, Any], key: str, path: str) -> None:
    value = obj.get(key)
    if isinstance(value, str) and value and not _URL.match(value):
        c.add(f"{path}.{key}", "url", value, "is not an http(s) URL")
