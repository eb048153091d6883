"""Helpers for the sync tests: settings pointed at test topics, a real Avro producer."""

from __future__ import annotations

import copy
import io
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from kafka import KafkaConsumer, KafkaProducer
from sqlalchemy import Engine, select

from agencydb.engine import make_engine
from agencydb.models import EventLogEntry, Record
from casebus.claims import claim_header
from casebus.config import Settings, load_settings
from casebus.contracts.samples import sample_action_event, sample_lead_event, sample_penalty_event
from casebus.contracts.schemas import schema_for_topic
from casebus.events import Event, EventType, event_key, stable_event_id
from casebus.publish import Signers, event_headers
from casebus.records import content_digest, record_key, record_kind
from casebus.serde import AvroSerializer, SerializationContext
from pipeline.items import Decoded, Provenance
from tests.fixtures.kafka import harness
from tests.fixtures.registry import admin_registry

SHARED = ("casebus.penalty", "casebus.lead", "casebus.action")


@dataclass
class SyncTopics:
    """Unique topics of one test: shared topic -> actual name, and the DLQ."""

    actual: dict[str, str]
    dlq: str
    audit: str = "casebus.audit"  # where the sync publishes its chain heads

    def pairs(self) -> tuple[str, ...]:
        return tuple(f"{shared}={actual}" for shared, actual in self.actual.items())


def sync_settings(
    settings: Settings, *, registry_url: str, db_url: str, topics: SyncTopics, **sync: Any
) -> Settings:
    updates = {"topics": topics.pairs(), "db_url": db_url, "dlq_topic": topics.dlq}
    updates["group_id"] = f"casebus.sync.test.{uuid.uuid4().hex[:8]}"
    updates.update(sync)
    return settings.model_copy(
        update={
            "registry": settings.registry.model_copy(update={"url": registry_url}),
            "sync": settings.sync.model_copy(update=updates),
            "provenance": settings.provenance.model_copy(update={"audit_topic": topics.audit}),
        }
    )


class EventProducer:
    """Produces events to the test topics the way connectors do: keyed, Avro, framed."""

    def __init__(
        self, bootstrap: str, registry_url: str, topics: Mapping[str, str], **options: Any
    ) -> None:
        self.topics = dict(topics)
        self.registry = admin_registry(registry_url)
        self.serializers = {s: AvroSerializer(self.registry, s) for s in self.topics}
        self.producer = KafkaProducer(acks="all", linger_ms=5, **harness(bootstrap), **options)
        self.signers = Signers(load_settings())  # the owners' keys (tests/conftest.py)

    def send(self, event: Event, shared: str | None = None) -> None:
        """Framed and signed by the event's owner, with its headers, as connectors send."""
        shared = shared or topic_of(event)
        actual = self.topics[shared]
        value = self.serializers[shared](event, SerializationContext(actual))
        key = event_key(event)
        headers = event_headers(event) + claim_header(shared, value)  # as EventEncoder
        headers = self.signers(event["owner"]).sign(shared, key, value, headers)
        self.producer.send(actual, key=key, value=value, headers=headers)

    def send_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.send(event)
        self.flush()

    def send_raw(
        self,
        shared: str,
        key: bytes,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
        *,
        signed_by: str | None = "510500-SAMR",  # a trusted owner; None: unsigned
    ) -> None:
        """These bytes as they are, signed (by default) so that what they hold is judged."""
        if signed_by is not None:
            headers = self.signers(signed_by).sign(shared, key, value, headers)
        self.producer.send(self.topics[shared], key=key, value=value, headers=headers)

    def flush(self) -> None:
        self.producer.flush(timeout=30)

    def close(self) -> None:
        self.producer.close(timeout=5)
        self.registry.close()


def topic_of(event: Event) -> str:
    if "penalty" in event:
        return "casebus.penalty"
    return "casebus.lead" if "lead" in event else "casebus.action"


def decoded(event: Event, offset: int, *, partition: int = 0, schema_id: int = 1) -> Decoded:
    """The event as the inbound step hands it over: read at `offset` of its shared topic."""
    return Decoded(Provenance(topic_of(event), partition, offset, schema_id), event)


def as_decoded(event: Event) -> Event:
    """The event as a consumer decodes it from Avro under its topic's schema (decimals at the
    schema's scale, event_id a UUID): what the sync digests and stores."""
    schema = parse_schema(schema_for_topic(topic_of(event)))
    buffer = io.BytesIO()
    schemaless_writer(buffer, schema, event)
    buffer.seek(0)
    read: Event = schemaless_reader(buffer, schema, None)
    return read


def stored_as(event: Event) -> tuple[tuple[str, str, str], tuple[int, str]]:
    """(kind, owner, record_id) -> (revision, digest): how a database that applied this event,
    sent over the broker, holds its record (the shape of `records()`)."""
    kind = record_kind(event)
    digest = content_digest(as_decoded(event), kind)
    return record_key(event, kind), (int(event["revision"]), digest)


def penalty(record_id: str, revision: int = 1, **envelope: Any) -> Event:
    """A valid penalty event for `record_id` at `revision` (envelope fields overridable)."""
    event = sample_penalty_event(revision)
    event["record_id"] = record_id
    event["penalty"]["decision_no"] = record_id
    if revision > 1:
        event["event_type"] = EventType.PENALTY_AMENDED.value
        event["penalty"]["remarks"] = f"第{revision}次变更"
    event.update(envelope)
    event["event_id"] = stable_event_id(event["owner"], record_id, revision, event["event_type"])
    return event


def lead(record_id: str, revision: int = 1, items: int = 1) -> Event:
    event = sample_lead_event()
    event["record_id"] = event["lead"]["lead_no"] = record_id
    event["revision"] = revision
    base = event["lead"]["items"][0]
    event["lead"]["items"] = [
        {**base, "listing_id": f"{1000 + i}", "listing_url": f"https://item.jd.com/{1000 + i}.html"}
        for i in range(items)
    ]
    event["event_id"] = stable_event_id(event["owner"], record_id, revision, event["event_type"])
    return event


def action(event_type: EventType, record_id: str) -> Event:
    event = sample_action_event(event_type)
    event["record_id"] = record_id
    event["event_id"] = stable_event_id(event["owner"], record_id, 1, event_type)
    return copy.deepcopy(event)


def event_log(db_url: str) -> list[EventLogEntry]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(EventLogEntry).order_by(EventLogEntry.id)).all()
            return [EventLogEntry(**row._mapping) for row in rows]
    finally:
        engine.dispose()


def records(engine_or_url: Engine | str) -> dict[tuple[str, str, str], tuple[int, str]]:
    """(kind, owner, record_id) -> (revision, digest) of every stored record."""
    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Record.kind, Record.owner, Record.record_id, Record.revision, Record.digest)
            )
            return {(k, o, r): (rev, d) for k, o, r, rev, d in rows}
    finally:
        if isinstance(engine_or_url, str):
            engine.dispose()


def read_topic(bootstrap: str, topic: str, expected: int, timeout_s: float = 20.0) -> list[Any]:
    """Every record of `topic` (waits until `expected` arrived or the timeout passed)."""
    consumer = KafkaConsumer(
        topic, auto_offset_reset="earliest", enable_auto_commit=False, **harness(bootstrap)
    )
    out: list[Any] = []
    try:
        import time

        deadline = time.monotonic() + timeout_s
        while len(out) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                out.extend(batch)
        # a little longer: nothing more should arrive
        for batch in consumer.poll(timeout_ms=500).values():
            out.extend(batch)
    finally:
        consumer.close()
    return out
