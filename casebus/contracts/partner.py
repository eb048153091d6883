"""The partner view of a lead, derived from the marks in the lead contract itself.

A field of `LeadEvent` (and of the records inside it) leaves the agencies for a platform
only if its schema carries `"casebus.visibility": "partner"`; a field without the mark is
internal. So the partner schema (`PartnerLead`) and the redaction are both computed from
the same marks, and a field added to `Lead` is not exported until someone marks it.
Informants, personal identity numbers (`confluent:tags: ["PII"]`), the handling code,
sharing list, case number and producer are unmarked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from casebus.config import Settings
from casebus.contracts.schemas import TOPIC_SCHEMAS, schema_for_topic, subject_for_topic
from casebus.events import LEAD_TOPIC

VISIBILITY = "casebus.visibility"
PARTNER = "partner"
NAMESPACE = "cn.casebus.partner"
_NAMES = {"cn.casebus.LeadEvent": "PartnerLead", "cn.casebus.Lead": "PartnerLeadDetails"}
_DROP = (VISIBILITY, "confluent:tags")

Redact = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class PartnerContract:
    schema: dict[str, Any]  # the partner value schema (PartnerLead), inlined
    redact: Redact  # decoded LeadEvent -> PartnerLead value
    exported: tuple[str, ...]  # dotted paths of the exported fields, for docs and tests


@cache
def partner_contract() -> PartnerContract:
    exported: list[str] = []
    schema, redact = _record(schema_for_topic(LEAD_TOPIC), "cn.casebus", {}, "", exported)
    schema["doc"] = (
        "合作平台线索: a lead as the platform it concerns sees it (the fields the lead contract "
        "marks casebus.visibility = partner). Topic casebus.feed.<platform>.leads, key "
        "owner/record_id; a null value (tombstone) retracts the lead."
    )
    return PartnerContract(schema, redact, tuple(exported))


def partner_schema() -> dict[str, Any]:
    return partner_contract().schema


def contract_subjects(settings: Settings) -> list[tuple[str, dict[str, Any]]]:
    """Every subject a deployment registers: each shared topic's value schema, then each
    platform's feed (the partner view)."""
    subjects = [(subject_for_topic(t), schema_for_topic(t)) for t in TOPIC_SCHEMAS]
    subjects += [
        (subject_for_topic(settings.feeds.feed_topic(p)), partner_schema())
        for p in settings.platforms
    ]
    return subjects


def redact(event: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = partner_contract().redact(event)
    return value


def _full(name: str, namespace: str) -> str:
    return name if "." in name else f"{namespace}.{name}"


def _record(
    node: dict[str, Any], namespace: str, named: dict[str, Redact], path: str, out: list[str]
) -> tuple[dict[str, Any], Redact]:
    full = _full(node["name"], node.get("namespace", namespace))
    inner_ns = full.rsplit(".", 1)[0]
    fields: list[dict[str, Any]] = []
    pickers: list[tuple[str, Redact | None]] = []
    for field in node["fields"]:
        if field.get(VISIBILITY) != PARTNER:
            continue
        where = f"{path}{field['name']}"
        kind, sub = _type(field["type"], inner_ns, named, f"{where}.", out)
        fields.append({k: v for k, v in field.items() if k not in _DROP} | {"type": kind})
        pickers.append((field["name"], sub))
        if sub is None:
            out.append(where)

    def pick(value: dict[str, Any]) -> dict[str, Any]:
        return {name: value[name] if sub is None else sub(value[name]) for name, sub in pickers}

    named[full] = pick
    renamed = _NAMES.get(full, "Partner" + full.rsplit(".", 1)[1])
    record = {"type": "record", "name": renamed, "namespace": NAMESPACE, "fields": fields}
    if "doc" in node:
        record["doc"] = node["doc"]
    return record, pick


def _type(
    node: Any, namespace: str, named: dict[str, Redact], path: str, out: list[str]
) -> tuple[Any, Redact | None]:
    """The partner form of a field type, and how to redact its values (None: as they are)."""
    if isinstance(node, str):
        full = _full(node, namespace)
        if full in named:  # a record met before: refer to its partner name
            return f"{NAMESPACE}.{_NAMES.get(full, 'Partner' + full.rsplit('.', 1)[1])}", named[
                full
            ]
        return node, None
    if isinstance(node, list):
        branches = [_type(b, namespace, named, path, out) for b in node]
        subs = [sub for _, sub in branches if sub is not None]
        if len(subs) > 1:
            raise ValueError(f"{path}: a union of several records cannot be redacted")
        sub = subs[0] if subs else None
        if sub is None:
            return [kind for kind, _ in branches], None
        only = sub
        return [kind for kind, _ in branches], lambda v: None if v is None else only(v)
    kind = node.get("type")
    if kind == "record":
        return _record(node, namespace, named, path, out)
    if kind == "array":
        items, sub = _type(node["items"], namespace, named, path, out)
        if sub is None:
            return {**node, "items": items}, None
        each = sub
        return {**node, "items": items}, lambda v: [each(x) for x in v]
    if kind == "enum":  # keep it, under its own name (cn.casebus.EventType)
        return {**node, "namespace": node.get("namespace", namespace)}, None
    return node, None
