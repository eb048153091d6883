"""Validate, serialize and publish events; send invalid source records to the rejects topic.

Shared by the connectors and the ingest endpoint. One Publisher per caller (it tracks that
caller's pending sends); the KafkaProducer under it may be shared. Delivery: the idempotent
producer with acks=all (casebus.kafka.clients.make_producer). `flush()` returns only once
the broker acknowledged every pending send, and raises if any failed: callers advance
their checkpoints after it, never before.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from kafka import KafkaProducer
from kafka.producer.future import FutureRecordMetadata

from casebus.config import Settings
from casebus.contracts.schemas import TOPIC_SCHEMAS, schema_for_topic
from casebus.contracts.validation import Violation, validate_event
from casebus.events import Event, event_key, topic_for_event_type, utc_now
from casebus.kafka.clients import make_producer
from casebus.registry.client import RegistryClient
from casebus.serde import AvroSerializer, SchemaRegistry, SerializationContext

log = logging.getLogger(__name__)

REJECTS_TOPIC = "casebus.rejects"
CONTENT_TYPE = b"application/vnd.casebus.avro+confluent"
REJECT_CONTENT_TYPE = b"application/json"


class PublishError(Exception):
    """The broker did not acknowledge a send; nothing after it may be checkpointed."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """An invalid source record and every rule it failed."""

    source_system: str
    source_record_id: str
    record: Any  # the raw source record, as fetched
    violations: list[Violation]
    connector: str

    def to_json(self) -> bytes:
        body = {
            "source_system": self.source_system,
            "source_record_id": self.source_record_id,
            "record": self.record,
            "violations": [violation_json(v) for v in self.violations],
            "connector": self.connector,
            "rejected_at": utc_now().isoformat(),
        }
        return json.dumps(body, ensure_ascii=False, default=_json_default).encode("utf-8")


def violation_json(v: Violation) -> dict[str, Any]:
    return {"field": v.field, "rule": v.rule, "value": _plain(v.value), "message": v.message}


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return _json_default(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    return str(value)


class Publisher:
    """validate → serialize (Avro, Confluent framing) → produce (idempotent, acks=all)."""

    def __init__(
        self,
        settings: Settings,
        *,
        producer_name: str,
        topics: Mapping[str, str] | None = None,
        registry: SchemaRegistry | None = None,
        producer: KafkaProducer | None = None,
    ) -> None:
        self.settings = settings
        self.producer_name = producer_name
        # Logical (shared) topic -> topic actually written; tests map them to unique names.
        self.topics = {t: t for t in (*TOPIC_SCHEMAS, REJECTS_TOPIC)} | dict(topics or {})
        self._registry = registry or RegistryClient(settings.registry.url)
        self._serializers = {
            logical: AvroSerializer(
                self._registry, self.topics[logical], schema=schema_for_topic(logical)
            )
            for logical in TOPIC_SCHEMAS
        }
        self._contexts = {t: SerializationContext(self.topics[t]) for t in TOPIC_SCHEMAS}
        self._own_producer = producer is None
        self.producer = producer or make_producer(settings, client_id=producer_name)
        self._pending: list[FutureRecordMetadata] = []

    # -- the three steps ------------------------------------------------------------------

    def check(self, event: Event, *, topic: str | None = None) -> list[Violation]:
        """Every rule the event breaks (empty: valid). `topic` is the shared topic name."""
        topic = topic or topic_for_event_type(event["event_type"])
        return validate_event(topic, event, settings=self.settings)

    def send(self, event: Event, *, topic: str | None = None) -> FutureRecordMetadata:
        """Serialize and hand to the producer; the event must have passed `check`."""
        logical = topic or topic_for_event_type(event["event_type"])
        actual = self.topics[logical]
        value = self._serializers[logical](event, self._contexts[logical])
        headers = [
            ("event_id", str(event["event_id"]).encode()),
            ("event_type", str(event["event_type"]).encode()),
            ("owner", event["owner"].encode()),
            ("producer", event["producer"].encode()),
            ("content-type", CONTENT_TYPE),
        ]
        future = self.producer.send(actual, key=event_key(event), value=value, headers=headers)
        self._pending.append(future)
        return future

    def reject(self, rejected: Rejected) -> FutureRecordMetadata:
        """Record an invalid source record in the rejects topic and the log; never raises
        for the record's content."""
        log.warning(
            "rejected %s record %s (%s): %s",
            rejected.source_system,
            rejected.source_record_id,
            rejected.connector,
            "; ".join(f"{v.field}: {v.rule}: {v.message}" for v in rejected.violations),
        )
        future = self.producer.send(
            self.topics[REJECTS_TOPIC],
            key=rejected.source_record_id.encode("utf-8"),
            value=rejected.to_json(),
            headers=[
                ("connector", rejected.connector.encode()),
                ("content-type", REJECT_CONTENT_TYPE),
            ],
        )
        self._pending.append(future)
        return future

    def publish_all(self, events: Iterable[Event]) -> list[FutureRecordMetadata]:
        """Send already-checked events; pair with `flush()` to wait for the acks."""
        return [self.send(e) for e in events]

    def take_pending(self) -> list[FutureRecordMetadata]:
        """The sends since the last call, to be awaited later with `wait`."""
        pending, self._pending = self._pending, []
        return pending

    @staticmethod
    def wait(futures: list[FutureRecordMetadata], timeout: float = 120) -> None:
        """Block until each send is acknowledged; PublishError on the first that failed."""
        for future in futures:
            try:
                future.get(timeout=timeout)
            except Exception as exc:
                raise PublishError(f"broker did not acknowledge a send: {exc}") from exc

    def flush(self, timeout: float | None = None) -> int:
        """Wait until the broker acknowledged every pending send; PublishError otherwise.

        Returns the number of sends acknowledged.
        """
        pending = self.take_pending()
        self.producer.flush(timeout=timeout)
        self.wait(pending, timeout or 120)
        return len(pending)

    def close(self) -> None:
        if self._own_producer:
            self.producer.close()
