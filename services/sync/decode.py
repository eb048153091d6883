"""Consumed records to apply items: decode (Confluent-framed Avro), check the kind, validate.

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
from casebus.serde import AvroDeserializer, SerdeError, SerializationContext
from casebus.serde.errors import KeySerializationError, ValueSerializationError
from services.sync.apply import Incoming, Provenance
from services.sync.records import TOPIC_BY_KIND, NotARecord, record_kind

log = logging.getLogger(__name__)

MAX_VIOLATIONS_SHOWN = 5


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
        self._logical = dict(logical)
        self._deserializers = {
            topic: AvroDeserializer(
                registry,
                max_message_bytes=settings.validation.max_message_bytes,
                reader_schema=schema_for_topic(shared),
            )
            for topic, shared in self._logical.items()
        }

    def decode(self, records: Sequence[Any]) -> list[Consumed]:
        return [self._one(record) for record in records]

    def _one(self, record: Any) -> Consumed:
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
            inner = (
                exc.inner
                if isinstance(exc, KeySerializationError | ValueSerializationError)
                else exc
            )
            return _rejected(record, prov, type(inner).__name__, str(exc))
        prov = Provenance(record.topic, record.partition, record.offset, decoded.schema_id)
        event = decoded.value
        try:
            kind = record_kind(event)
        except NotARecord as exc:
            return _rejected(record, prov, "NotARecord", str(exc), event)
        shared = TOPIC_BY_KIND[kind]
        if shared != self._logical[record.topic]:
            why = f"a {kind} record does not belong on {self._logical[record.topic]}"
            return _rejected(record, prov, "WrongTopic", why, event)
        violations = validate_event(shared, event, settings=self._settings)
        if violations:
            shown = "; ".join(v.message for v in violations[:MAX_VIOLATIONS_SHOWN])
            more = len(violations) - MAX_VIOLATIONS_SHOWN
            text = shown + (f"; and {more} more" if more > 0 else "")
            return _rejected(record, prov, "ValidationError", text, event)
        return Consumed(record, Incoming(prov, event))


def _rejected(
    record: Any, prov: Provenance, error_class: str, message: str, event: Any = None
) -> Consumed:
    log.warning(
        "rejecting %s:%d@%d: %s: %s",
        record.topic,
        record.partition,
        record.offset,
        error_class,
        message,
    )
    incoming = Incoming(prov, event, f"{error_class}: {message}")
    return Consumed(record, incoming, error_class, message)
