"""Consumed records to apply items: check the signature (casebus.provenance), decode
(Confluent-framed Avro), check that the signer is the owner and the kind; the validator
(`BatchDecoder.check`) runs later, in apply, on events that would change a record.

Sync and replay decode here (inline or in the decode worker), so an untrusted event is
refused the same way by both: a rejected item, which goes to the DLQ and the event log.

Bad bytes or an invalid event become a rejected item (DLQ); an unreachable registry raises
TransientFault so the consumer pauses and retries the same records, never DLQs them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from casebus.config import Settings, TrustedKey
from casebus.contracts.schemas import schema_for_topic
from casebus.contracts.validation import validate_event
from casebus.events import Event
from casebus.provenance.keys import trust_list
from casebus.provenance.signing import Refusal, Verifier
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
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def of(cls, record: Any) -> RawRecord:
        return cls(
            record.topic,
            record.partition,
            record.offset,
            record.value,
            record.key,
            tuple(record.headers or ()),
        )


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
    """Decodes records of the actual topics; `logical` maps each to its shared topic.
    `verify=False` only for bench/sync.py's comparison run."""

    def __init__(
        self,
        settings: Settings,
        registry: Any,
        logical: Mapping[str, str],
        *,
        verify: bool = True,
    ) -> None:
        self._settings = settings
        shared = sorted(set(logical.values()))
        self._verifier = Verifier(trust_list(settings), shared) if verify else None
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
        # Verified when it was prepared; the bytes are the same.
        raw = RawRecord(prov.topic, prov.partition, prov.offset, item.raw)
        again = self._decode_trusted(raw, None)
        if again.incoming.event is None:
            raise TransientFault(f"cannot decode {prov} again: {again.error_message}")
        return again.incoming.event

    def decode_one(self, record: Any) -> Consumed:
        """Verify and decode one record (rejections are not logged here: see log_rejected)."""
        prov = Provenance(record.topic, record.partition, record.offset)
        if record.value is None:
            return _rejected(record, prov, "EmptyValue", "the record has no value (tombstone)")
        if self._verifier is None:
            return self._decode_trusted(record, None)
        signer = self._verifier.check_record(
            self._logical[record.topic], record.key, record.value, record.headers or ()
        )
        if isinstance(signer, Refusal):
            return _rejected(record, prov, signer.reason, signer.message)
        return self._decode_trusted(record, signer)

    def _decode_trusted(self, record: Any, signer: TrustedKey | None) -> Consumed:
        prov = Provenance(record.topic, record.partition, record.offset)
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
        if signer is not None:
            refused = Verifier.check_signer(signer, event.get("owner"), event.get("published_at"))
            if refused is not None:
                return _rejected(record, prov, refused.reason, refused.message, event)
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
