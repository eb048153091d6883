"""The partner view of a lead, derived from the marks in the lead contract itself.

A field of `LeadEvent` (and of the records inside it) leaves the agencies for a platform
only if its schema carries `"casebus.visibility": "partner"`; a field without the mark is
internal. So the partner schema (`PartnerLead`) and the redaction are both computed from
the same marks, and a field added to `Lead` is not exported until someone marks it.
Informants, personal identity numbers (`confluent:tags: ["PII"]`), the handling code,
sharing list, case number and producer are unmarked; and a field tagged personal can never
be exported, marked or not (`PersonalFieldExported`): platforms get no personal data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from casebus.config import Settings
from casebus.contracts.model import Array, Enum, Node, Primitive, Record, Union, resolve
from casebus.contracts.schemas import TOPIC_SCHEMAS, schema_for_topic, subject_for_topic
from casebus.events import LEAD_TOPIC

VISIBILITY = "casebus.visibility"
PARTNER = "partner"
NAMESPACE = "cn.casebus.partner"
_NAMES = {"cn.casebus.LeadEvent": "PartnerLead", "cn.casebus.Lead": "PartnerLeadDetails"}
_DROP = (VISIBILITY, "confluent:tags")

Redact = Callable[[Any], Any]


class PersonalFieldExported(ValueError):
    """A field tagged personal (PII) marked for partners: the contract is wrong."""


@dataclass(frozen=True, slots=True)
class PartnerContract:
    schema: dict[str, Any]  # the partner value schema (PartnerLead), inlined
    redact: Redact  # decoded LeadEvent -> PartnerLead value
    exported: tuple[str, ...]  # dotted paths of the exported fields, for docs and tests


@cache
def partner_contract() -> PartnerContract:
    exported: list[str] = []
    root = resolve(schema_for_topic(LEAD_TOPIC))
    assert isinstance(root, Record)
    schema, redact = _Walk(exported).record(root, "")
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


class _Walk:
    """The partner form of the lead contract's model (casebus.contracts.model)."""

    def __init__(self, exported: list[str]) -> None:
        self.exported = exported
        self.records: dict[int, tuple[str, Redact]] = {}  # partner name, redaction
        self.enums: set[int] = set()  # defined in the partner schema already

    def record(self, node: Record, path: str) -> tuple[dict[str, Any], Redact]:
        fields: list[dict[str, Any]] = []
        pickers: list[tuple[str, Redact | None]] = []
        for f in node.fields:
            if f.json.get(VISIBILITY) != PARTNER:
                continue
            where = f"{path}{f.name}"
            if "PII" in (f.json.get("confluent:tags") or ()):
                raise PersonalFieldExported(f"{where}: personal, never exported to a platform")
            kind, sub = self.type(f.type, f"{where}.")
            fields.append({k: v for k, v in f.json.items() if k not in _DROP} | {"type": kind})
            pickers.append((f.name, sub))
            if sub is None:
                self.exported.append(where)

        def pick(value: dict[str, Any]) -> dict[str, Any]:
            return {name: value[name] if sub is None else sub(value[name]) for name, sub in pickers}

        renamed = _NAMES.get(node.fullname, "Partner" + node.name)
        self.records[id(node)] = (renamed, pick)
        record = {"type": "record", "name": renamed, "namespace": NAMESPACE, "fields": fields}
        if "doc" in node.json:
            record["doc"] = node.json["doc"]
        return record, pick

    def type(self, node: Node, path: str) -> tuple[Any, Redact | None]:
        """The partner form of a field type, and how to redact its values (None: as is)."""
        if isinstance(node, Record):
            met = self.records.get(id(node))
            if met is not None:  # a record met before: refer to its partner name
                return f"{NAMESPACE}.{met[0]}", met[1]
            return self.record(node, path)
        if isinstance(node, Union):
            branches = [self.type(b, path) for b in node.branches]
            subs = [sub for _, sub in branches if sub is not None]
            if len(subs) > 1:
                raise ValueError(f"{path}: a union of several records cannot be redacted")
            kinds = [kind for kind, _ in branches]
            if not subs:
                return kinds, None
            only = subs[0]
            return kinds, lambda v: None if v is None else only(v)
        if isinstance(node, Array):
            items, sub = self.type(node.items, path)
            if sub is None:
                return {**node.json, "items": items}, None
            each = sub
            return {**node.json, "items": items}, lambda v: [each(x) for x in v]
        if isinstance(node, Enum):  # kept under its own name (cn.casebus.EventType)
            if id(node) in self.enums:
                return node.fullname, None
            self.enums.add(id(node))
            return {**node.json, "namespace": node.namespace}, None
        if isinstance(node, Primitive):
            return node.json, None
        raise ValueError(f"{path}: {type(node).__name__} types cannot be exported")
