"""Consumed records to apply items: decode (Confluent-framed Avro) and check the kind; the
validator (`BatchDecoder.check`) runs later, in apply, on events that would change a record.

Bad bytes or an invalid event become a rejected item (DLQ); an unreachable registry raises
TransientFault so the consumer pauses and retries the same records, never DLQs them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from casebus.config import Settings
from casebus.contracts.schemas import schema_for_topic
from casebus.contracts.validation import validate_event
from casebus.events import Event
from casebus.serde import AvroDeserializer, SerdeError, SerializationContext
from casebus.serde.errors import KeySerializationError, ValueSerializationError
from services.sync.prepare import Incoming, Provenance
from services.sync.records import TOPIC_BY_KIND, NotARecord, record_kind

log = logging.getLogger(__name__)

MAX_VIOLATIONS_SHOWN = 5


@dataclass(frozen=True, slots=True)
class RawRecord:
    """What decoding needs of a consumer record, small enough to send to a worker."""

    topic: str
    partition: int
    offset: int
    value: bytes | None


class TransientFault(Exception):
    """The database, the registry or the broker cannot be reached: pause and retry."""


@dataclass(frozen=True, slots=True)
class Consumed:
    """A consumed Kafka record, what apply gets from it, and why it was rejected (if it was)."""

    record: Any  # kafka.consumer.fetcher.ConsumerRecord
    incoming: Incoming
    error_class: str | None = None
    error_message: str | None = None


class BatchDecoder:
    """Decodes records of the actual topics; `logical` maps each to its shared topic."""

    def __init__(self, settings: Settings, registry: Any, logical: Mapping[str, str]) -> None:
        self._settings = settings
        self._registry = registry
        self._logical = dict(logical)
        self._max = settings.validation.max_message_bytes
        # Per topic read: resolves old writers' values to the current schema (values written
        # with the current schema are read as they are).
        self._deserializers = {
            topic: AvroDeserializer(
                registry, max_message_bytes=self._max, reader_schema=schema_for_topic(shared)
            )
            for topic, shared in self._logical.items()
        }

    def decode(self, records: Sequence[Any]) -> list[Consumed]:
        consumed = [self.decode_one(record) for record in records]
        for c in consumed:
            if c.error_class is not None:
                log_rejected(c)
        return consumed

    def check(self, event: Event, kind: str) -> str | None:
        """Every rule the event breaks (casebus.contracts.validation), or None."""
        violations = validate_event(TOPIC_BY_KIND[kind], event, settings=self._settings)
        if not violations:
            return None
        shown = "; ".join(v.message for v in violations[:MAX_VIOLATIONS_SHOWN])
        more = len(violations) - MAX_VIOLATIONS_SHOWN
        return shown + (f"; and {more} more" if more > 0 else "")

    def event_of(self, item: Incoming) -> Event:
        """The decoded event of an item prepared ahead without it (decoded again from its
        bytes: rare, see services/sync/prefetch.py)."""
        if item.event is not None:
            return item.event
        prov = item.provenance
        again = self.decode_one(RawRecord(prov.topic, prov.partition, prov.offset, item.raw))
        if again.incoming.event is None:
            raise TransientFault(f"cannot decode {prov} again: {again.error_message}")
        return again.incoming.event

    def decode_one(self, record: Any) -> Consumed:
        """Decode one record (rejections are not logged here: see log_rejected)."""
        prov = Provenance(record.topic, record.partition, record.offset)
        if record.value is None:
            return _rejected(record, prov, "EmptyValue", "the record has no value (tombstone)")
        try:
            decoded = self._deserializers[record.topic].decode(
                record.value, SerializationContext(record.topic)
            )
        except SerdeError as exc:
            if exc.transient:
                raise TransientFault(str(exc)) from exc
            inner: SerdeError = exc
            if isinstance(exc, KeySerializationError | ValueSerializationError):
                inner = exc.inner
            return _rejected(record, prov, type(inner).__name__, str(exc))
        prov = Provenance(record.topic, record.partition, record.offset, decoded.schema_id)
        event = decoded.value
        try:
            kind = record_kind(event)
        except NotARecord as exc:
            return _rejected(record, prov, "NotARecord", str(exc), event)
        if TOPIC_BY_KIND[kind] != self._logical[record.topic]:
            why = f"a {kind} record does not belong on {self._logical[record.topic]}"
            return _rejected(record, prov, "WrongTopic", why, event)
        return Consumed(record, Incoming(prov, event))


def log_rejected(c: Consumed) -> None:
    log.warning(
        "rejecting %s:%d@%d: %s: %s",
        c.record.topic,
        c.record.partition,
        c.record.offset,
        c.error_class,
        c.error_message,
    )


def _rejected(
    record: Any, prov: Provenance, error_class: str, message: str, event: Any = None
) -> Consumed:
    incoming = Incoming(prov, event, f"{error_class}: {message}")
    return Consumed(record, incoming, error_class, message)
