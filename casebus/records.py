"""From a decoded event to what the database stores: kind, identity, digest and rows."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any, NewType

import orjson

from casebus.events import Event, EventType

RecordKey = NewType("RecordKey", tuple[str, str, str])  # (kind, owner, record_id)

KINDS = ("penalty", "lead", "transfer", "action", "case")

# Envelope fields that define a record revision. Left out on purpose: event_id,
# published_at and producer, which change when the same revision is delivered again.
DIGEST_ENVELOPE = (
    "event_type",
    "occurred_at",
    "owner",
    "record_id",
    "revision",
    "case_id",
    "region",
    "shared_with",
    "handling",
)


class NotARecord(ValueError):
    """The event carries no payload this database knows how to store."""


def record_kind(event: Event) -> str:
    """`penalty`, `lead`, or on casebus.action the family of the event type."""
    if event.get("penalty") is not None:
        return "penalty"
    if event.get("lead") is not None:
        return "lead"
    if event.get("action") is not None:
        try:
            family = EventType(str(event["event_type"])).family
        except ValueError:
            raise NotARecord(f"event_type: unknown action type {event['event_type']!r}") from None
        if family in ("transfer", "action", "case"):
            return family
        raise NotARecord(f"event_type: {event['event_type']} does not belong on an action event")
    raise NotARecord("event has no penalty, lead or action payload")


def payload_of(event: Event, kind: str) -> dict[str, Any]:
    field = kind if kind in ("penalty", "lead") else "action"
    payload: dict[str, Any] = event[field]
    return payload


def record_key(event: Event, kind: str) -> RecordKey:
    return RecordKey((kind, str(event["owner"]), str(event["record_id"])))


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)  # Avro decimals keep their scale: 5.000000 stays 5.000000
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot canonicalise {type(value).__name__}")


def canonical_bytes(value: object) -> bytes:
    """Sorted keys, no spaces, UTF-8; instants in ISO 8601 with their UTC offset (orjson)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=_json_default)


def canonical_json(value: object) -> str:
    return canonical_bytes(value).decode("utf-8")


def content_digest(event: Event, kind: str) -> str:
    """sha256 of the record's content: the defining envelope fields and the payload."""
    content = {name: event[name] for name in DIGEST_ENVELOPE}
    content["kind"] = kind
    content["payload"] = payload_of(event, kind)
    return hashlib.sha256(canonical_bytes(content)).hexdigest()
