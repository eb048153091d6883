"""Payload builders shared by connectors whose sources carry the same kind of record."""

from __future__ import annotations

from typing import Any

from casebus.contracts.validation import Violation
from connectors import codes
from connectors.base import Fields


def lead_payload(f: Fields, *, status: str | None, platform_label: Any) -> dict[str, Any]:
    """A lead from an agency case system's lead record (market supervision's shape)."""
    r = f.record
    return {
        "lead_no": f.req("id", "lead_no"),
        "source": codes.translate(codes.LEAD_SOURCE, f.req("source"), "lead.source", f.violations),
        "platform": codes.PLATFORM.get(str(platform_label)) if platform_label else None,
        "seller_name": f.req("seller_name"),
        "seller_uscc": f.opt("seller_uscc"),
        "seller_id_no": None,
        "shop_name": f.req("shop_name"),
        "shop_id": None,
        "shop_url": f.req("shop_url"),
        "items": [
            {"listing_url": i.get("url"), "listing_id": i.get("id"), "title": i.get("title")}
            for i in f.req("items") or []
        ],
        "infringement_type": codes.translate(
            codes.INFRINGEMENT, r.get("infringement"), "lead.infringement_type", f.violations
        ),
        "right_certificate": f.opt("right_certificate"),
        "description": f.req("description"),
        "evidence": [evidence(e, f) for e in f.req("evidence") or []],
        "platform_actions": [],
        "status": status,
        "jurisdiction_owner": f.req("jurisdiction", "jurisdiction_owner"),
        "target_regions": list(r.get("regions") or []),
        "informant": informant(r.get("informant")),
    }


def informant(found: Any) -> dict[str, Any] | None:
    """举报人 from a case system's record (name, phone, id_type, id_no, address,
    confidential); None when the lead came without one."""
    if not isinstance(found, dict):
        return None
    return {
        "name": found.get("name"),
        "phone": found.get("phone"),
        "id_type": found.get("id_type"),
        "id_no": found.get("id_no"),
        "address": found.get("address"),
        "confidential": bool(found.get("confidential", True)),
    }


def evidence(
    e: dict[str, Any], f: Fields, *, keys: tuple[str, str, str] = ("url", "sha256", "captured_at")
) -> dict[str, Any]:
    uri, digest, at = keys
    inner = Fields(e, f.prefix + "evidence.", f.violations)  # failures land in f
    return {"uri": e.get(uri), "sha256": e.get(digest), "captured_at": inner.instant(at)}


def transfer_payload(f: Fields) -> dict[str, Any]:
    return {
        "kind": codes.translate(
            codes.TRANSFER_KIND, f.req("transfer_kind"), "action.kind", f.violations
        ),
        "from_owner": f.req("from", "from_owner"),
        "to_owner": f.req("to", "to_owner"),
        "document_no": f.req("id", "document_no"),
        "related_records": list(f.opt("related") or []),
        "materials": [
            {
                "kind": codes.MATERIAL_KIND.get(m.get("kind"), "OTHER"),
                "title": m.get("title"),
                "uri": m.get("url"),
                "sha256": m.get("sha256"),
            }
            for m in f.opt("materials") or []
        ],
        "approved_at": f.instant("approved_at", required=False),
        "sent_at": f.instant("sent_at", required=False),
        "decision": None,
        "decision_reason": None,
        "decided_at": None,
        "reconsideration_requested_at": None,
        "procuratorate_supervision": None,
        "seized_items_handed_over_at": None,
        "decide_due": None,
        "send_due": None,
        "file_decision_due": None,
        "reconsideration_due": None,
        "seized_items_due": None,
    }


# How a case system marks whom a lead may leave the agencies for (services/feeds/).
DISCLOSURE = {"平台": "platform", "公开": "public"}


def disclosed(
    shared_with: list[str], label: Any, platform: str | None, f: Fields
) -> tuple[list[str], str | None]:
    """`shared_with` and handling of a lead from its disclosure mark: 平台 adds the lead's
    platform to `shared_with`, 公开 makes it public (H0); none leaves both as they are."""
    if label is None:
        return shared_with, None
    kind = DISCLOSURE.get(str(label))
    if kind is None:
        f.violations.append(
            Violation("lead.disclosure", "code", label, f"unknown disclosure {label!r}")
        )
        return shared_with, None
    if kind == "public":
        return shared_with, "H0"
    if platform is None:
        f.violations.append(
            Violation("lead.disclosure", "required", label, "平台 disclosure needs the platform")
        )
        return shared_with, None
    return [*shared_with, platform], None
