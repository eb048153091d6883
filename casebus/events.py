"""The event envelope: event types, topics, keys and ids.

Events are plain dicts exactly as fastavro writes and reads them: `datetime` (UTC) for
timestamp-millis, `date` for date, `Decimal` for decimal, `str` for the `event_type` enum
symbol; `event_id` is written as `str` (or `UUID`) and read back as `uuid.UUID` (fastavro's
uuid logical type). `EventType` members are `str`: put them into an event dict as they are.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from casebus.topics import ACTION_TOPIC, LEAD_TOPIC, PENALTY_TOPIC, TOPIC_BY_FAMILY

Event = dict[str, Any]
PayloadField = Literal["penalty", "lead", "action"]


# Fixed forever: changing it would change every event id ever derived.
_EVENT_ID_NAMESPACE = uuid.UUID("6c1c9b1e-3f0a-5d57-9a55-0c6a8f0e7b21")
_NAMESPACE_BYTES = _EVENT_ID_NAMESPACE.bytes
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class EventType(StrEnum):
    """Event types. The value is the Avro enum symbol; `.code` is the dotted code."""

    PENALTY_ISSUED = "PENALTY_ISSUED"
    PENALTY_AMENDED = "PENALTY_AMENDED"
    PENALTY_REVOKED = "PENALTY_REVOKED"
    PENALTY_DELETED = "PENALTY_DELETED"
    LEAD_REPORTED = "LEAD_REPORTED"
    LEAD_UPDATED = "LEAD_UPDATED"
    LEAD_STATUS_CHANGED = "LEAD_STATUS_CHANGED"
    LEAD_TRANSFERRED = "LEAD_TRANSFERRED"
    LEAD_CLOSED = "LEAD_CLOSED"
    TRANSFER_REQUESTED = "TRANSFER_REQUESTED"
    TRANSFER_DECIDED = "TRANSFER_DECIDED"
    TRANSFER_UPDATED = "TRANSFER_UPDATED"
    ACTION_RECORDED = "ACTION_RECORDED"
    ACTION_UPDATED = "ACTION_UPDATED"
    CASE_LINKED = "CASE_LINKED"
    CASE_UNLINKED = "CASE_UNLINKED"

    @property
    def code(self) -> str:
        """The dotted code, e.g. `penalty.issued`."""
        return self.value.lower().replace("_", ".", 1)

    @classmethod
    def from_code(cls, code: str) -> EventType:
        """`penalty.issued` -> EventType.PENALTY_ISSUED; raises ValueError if unknown."""
        return cls(code.upper().replace(".", "_"))

    @property
    def family(self) -> str:
        """`penalty`, `lead`, `transfer`, `action` or `case`."""
        return self.value.split("_", 1)[0].lower()


_SYMBOLS = frozenset(e.value for e in EventType)

# The reader default of the Avro enum: a type added after the reader was built.
UNKNOWN_EVENT_TYPE = "UNKNOWN"

_TOPIC_BY_SYMBOL = {e.value: TOPIC_BY_FAMILY[e.family] for e in EventType}
_PAYLOAD_FIELD: dict[str, PayloadField] = {
    PENALTY_TOPIC: "penalty",
    LEAD_TOPIC: "lead",
    ACTION_TOPIC: "action",
}
# On casebus.action the event type selects the branch of the `action` union.
ACTION_BRANCH = {"transfer": "Transfer", "action": "EnforcementAction", "case": "CaseLink"}


def topic_for_event_type(event_type: EventType | str) -> str:
    """The shared topic an event type is published to (symbol or dotted code accepted)."""
    found = _TOPIC_BY_SYMBOL.get(event_type)  # a symbol (or member): no Enum lookup
    return found if found is not None else TOPIC_BY_FAMILY[_coerce(event_type).family]


def action_branch(event_type: EventType | str) -> str | None:
    """Record name of the `action` payload for this event type; None off casebus.action."""
    return ACTION_BRANCH.get(_coerce(event_type).family)


def payload_field(topic: str) -> PayloadField:
    """Name of the payload field of a shared topic's events."""
    try:
        return _PAYLOAD_FIELD[topic]
    except KeyError:
        raise KeyError(f"{topic!r} is not a shared event topic") from None


def event_key(event: Event) -> bytes:
    """The Kafka key: the case id, UTF-8, so one case's events stay in order."""
    return str(event["case_id"]).encode("utf-8")


def stable_event_id(owner: str, record_id: str, revision: int, event_type: EventType | str) -> str:
    """uuid5 of the record revision: re-publishing the same revision keeps the same id."""
    kind = event_type if type(event_type) is str and event_type in _SYMBOLS else None
    name = "\x1f".join((owner, record_id, str(int(revision)), kind or _coerce(event_type).value))
    return _uuid5_text(name)


def _uuid5_text(name: str) -> str:
    """`str(uuid.uuid5(_EVENT_ID_NAMESPACE, name))` without building a UUID object (a third
    of a connector's mapping time went into uuid.UUID.__init__)."""
    raw = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode("utf-8")).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def now_millis() -> int:
    """Milliseconds since the epoch (UTC), as timestamp-millis stores it."""
    return time.time_ns() // 1_000_000


def utc_now() -> datetime:
    """Now in UTC, truncated to whole milliseconds so it survives an Avro round trip."""
    return _EPOCH + timedelta(milliseconds=now_millis())


def _coerce(event_type: EventType | str) -> EventType:
    if isinstance(event_type, EventType):
        return event_type
    try:
        return EventType(event_type)
    except ValueError:
        return EventType.from_code(event_type)
