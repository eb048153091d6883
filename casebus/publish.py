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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from kafka import KafkaProducer
from kafka.partitioner.default import murmur2
from kafka.producer.future import FutureRecordMetadata

from casebus.claims import claim_header
from casebus.config import Settings
from casebus.contracts.schemas import TOPIC_SCHEMAS, schema_for_topic
from casebus.contracts.validation import Violation, validate_event
from casebus.events import Event, event_key, topic_for_event_type, utc_now
from casebus.kafka.clients import make_producer
from casebus.personal.cipher import Sealer
from casebus.personal.keystore import keys_for
from casebus.provenance.keys import load_signing_key
from casebus.provenance.signing import Signer
from casebus.regions import Crossing
from casebus.registry.client import registry_for
from casebus.serde import AvroSerializer, SchemaRegistry, SerializationContext
from casebus.serde.avro import FixedIds
from casebus.topics import REJECTS_TOPIC, TopicNames

log = logging.getLogger(__name__)

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


class Outgoing(NamedTuple):
    """A checked event, serialized and ready for the producer."""

    topic: str  # the topic actually written
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    key_hash: int  # murmur2(key) & 0x7fffffff, as kafka-python's DefaultPartitioner has it


class KeyHashes:
    """murmur2 of each key, cached: case ids recur, and kafka-python's murmur2 is pure
    Python (~3 µs a key). `partition` picks exactly what DefaultPartitioner picks."""

    def __init__(self, limit: int = 100_000) -> None:
        self._hashes: dict[bytes, int] = {}
        self._limit = limit

    def __call__(self, key: bytes) -> int:
        found = self._hashes.get(key)
        if found is None:
            if len(self._hashes) >= self._limit:
                self._hashes.clear()
            found = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return found

    @staticmethod
    def partition(key_hash: int, partitions: list[int]) -> int:
        """`partitions` sorted, as DefaultPartitioner sorts them."""
        return partitions[key_hash % len(partitions)]


class Signers:
    """The signer of each owner, its key loaded when first needed (casebus.provenance)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._signers: dict[str, Signer] = {}

    def __call__(self, owner: str) -> Signer:
        found = self._signers.get(owner)
        if found is None:
            found = self._signers[owner] = Signer(load_signing_key(self._settings, owner))
        return found


def sealer_for(settings: Settings, principal: str | None = None) -> Sealer:
    """The producers' sealer of personal fields: the owner's key-encryption key is made on
    first use if there is none (casebus.personal.keystore.LocalKms, or the owner's region's
    key service, asked as `principal`: default the owner's connector)."""
    return Sealer(keys_for(settings, create=True, principal=principal))


class EventEncoder:
    """validate, seal personal fields, serialize (Avro, Confluent framing) and sign as the
    event's owner, with key, headers and key hash: everything before the producer, so it can
    also run in a worker process. `sign=False` and `seal=False` only for bench/produce.py's
    comparison runs."""

    def __init__(
        self,
        settings: Settings,
        topics: TopicNames,
        registry: SchemaRegistry,
        *,
        sign: bool = True,
        seal: bool = True,
    ) -> None:
        self.settings = settings
        self._signers = Signers(settings) if sign else None
        self._sealer = sealer_for(settings) if seal else None
        self.topics = topics  # written under their actual names
        self._serializers = {
            shared: AvroSerializer(registry, topics.actual(shared), schema=schema_for_topic(shared))
            for shared in TOPIC_SCHEMAS
        }
        self._contexts = {t: SerializationContext(topics.actual(t)) for t in TOPIC_SCHEMAS}
        self._constant_headers: dict[tuple[str, str, str], list[tuple[str, bytes]]] = {}
        self._crossing = Crossing(settings)
        self.key_hash = KeyHashes()

    def schema_ids(self, shared_topics: Iterable[str]) -> dict[str, int]:
        """Value schema ids (subject -> id) of these topics, registered now if needed."""
        ids: dict[str, int] = {}
        for shared in shared_topics:
            actual = self.topics.actual(shared)
            ids[f"{actual}-value"] = self._serializers[shared].schema_id(actual)
        return ids

    @classmethod
    def with_ids(
        cls,
        settings: Settings,
        topics: TopicNames,
        ids: dict[str, int],
        *,
        sign: bool,
        seal: bool = True,
    ) -> EventEncoder:
        """An encoder framing with ids resolved beforehand (see `schema_ids`)."""
        return cls(settings, topics, FixedIds(ids), sign=sign, seal=seal)

    @property
    def signs(self) -> bool:
        return self._signers is not None

    @property
    def seals(self) -> bool:
        return self._sealer is not None

    def check_signer(self, owner: str) -> None:
        """Load `owner`'s signing key now: MissingKey here rather than at the first event."""
        if self._signers is not None:
            self._signers(owner)

    def check(self, event: Event, *, topic: str | None = None) -> list[Violation]:
        """Every rule the event breaks (empty: valid). `topic` is the shared topic name."""
        topic = topic or topic_for_event_type(event["event_type"])
        return validate_event(topic, event, settings=self.settings)

    def encode(self, event: Event, *, topic: str | None = None) -> Outgoing:
        """Serialize and sign one checked event, with its key and headers."""
        return self.encode_all([event], topic=topic)[0]

    def encode_all(self, events: Sequence[Event], *, topic: str | None = None) -> list[Outgoing]:
        """Seal the personal fields of checked events (casebus.personal), serialize them and
        sign them, one signature per batch of an owner's events (casebus.provenance.batch):
        the signature covers the sealed bytes. Raises casebus.provenance.keys.MissingKey if
        an owner's signing key is not here."""
        shared = [topic or topic_for_event_type(e["event_type"]) for e in events]
        if self._sealer is not None:
            sealer = self._sealer
            events = [sealer.seal(e, t) for e, t in zip(events, shared, strict=True)]
        keys = [event_key(e) for e in events]
        values = [
            self._serializers[t](event, self._contexts[t])
            for event, t in zip(events, shared, strict=True)
        ]
        # The record claim (casebus/claims.py) of each value, signed with the rest.
        headers = [
            self._headers(e) + claim_header(t, v)
            for e, t, v in zip(events, shared, values, strict=True)
        ]
        if self._signers is not None:
            by_owner: dict[str, list[int]] = {}
            for i, event in enumerate(events):
                by_owner.setdefault(event["owner"], []).append(i)
            for owner, indexes in by_owner.items():
                batch = [(shared[i], keys[i], values[i], headers[i]) for i in indexes]
                for i, signed in zip(indexes, self._signers(owner).sign_batch(batch), strict=True):
                    headers[i] = signed
        return [
            Outgoing(self.topics.actual(t), key, value, h, self.key_hash(key))
            for t, key, value, h in zip(shared, keys, values, headers, strict=True)
        ]

    def _headers(self, event: Event) -> list[tuple[str, bytes]]:
        kind = (str(event["event_type"]), event["owner"], event["producer"])
        constant = self._constant_headers.get(kind)
        if constant is None:
            constant = self._constant_headers[kind] = _kind_headers(*kind)
        headers = [("event_id", str(event["event_id"]).encode()), *constant]
        if self._crossing.active:
            headers += self._crossing.headers(event)
        return headers


def event_headers(event: Event, crossing: Crossing | None = None) -> list[tuple[str, bytes]]:
    """The headers of an event record, before its signature (EventEncoder caches them);
    with `crossing`, the regions it may cross to (casebus/regions.py)."""
    kind = _kind_headers(str(event["event_type"]), event["owner"], event["producer"])
    headers = [("event_id", str(event["event_id"]).encode()), *kind]
    return headers + crossing.headers(event) if crossing is not None else headers


def _kind_headers(event_type: str, owner: str, producer: str) -> list[tuple[str, bytes]]:
    return [
        ("event_type", event_type.encode()),
        ("owner", owner.encode()),
        ("producer", producer.encode()),
        ("content-type", CONTENT_TYPE),
    ]


class Publisher:
    """validate → serialize (Avro, Confluent framing) → produce (idempotent, acks=all)."""

    def __init__(
        self,
        settings: Settings,
        *,
        producer_name: str,
        principal: str,  # whom producer and registry client authenticate as
        topics: Mapping[str, str] | None = None,
        registry: SchemaRegistry | None = None,
        producer: KafkaProducer | None = None,
        sign: bool = True,  # False only in bench/produce.py's comparison runs
        seal: bool = True,  # likewise
    ) -> None:
        self.settings = settings
        self.producer_name = producer_name
        # Tests and benchmarks write the shared topics under names of their own.
        every = TopicNames.same((*TOPIC_SCHEMAS, REJECTS_TOPIC))
        self.topics = every.renamed(TopicNames(topics or {}))
        self._registry = registry or registry_for(settings, principal)
        self.encoder = EventEncoder(settings, self.topics, self._registry, sign=sign, seal=seal)
        self._own_producer = producer is None
        self.producer = producer or make_producer(
            settings, client_id=producer_name, principal=principal
        )
        self._pending: list[FutureRecordMetadata] = []
        self._partitions: dict[str, list[int]] = {}  # topic -> sorted partitions, per page

    def send_encoded(self, out: Outgoing) -> FutureRecordMetadata:
        """Hand an encoded event to the producer, on the partition the default partitioner
        would pick for its key (computed here from the cached hash)."""
        partitions = self._partitions.get(out.topic)
        if partitions is None:
            # Waits for metadata as send() would; refreshed at every take_pending().
            partitions = self._partitions[out.topic] = sorted(
                self.producer.partitions_for(out.topic)
            )
        future = self.producer.send(
            out.topic,
            key=out.key,
            value=out.value,
            headers=out.headers,
            partition=KeyHashes.partition(out.key_hash, partitions),
        )
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
            extra={
                "source": rejected.connector,
                "record_id": rejected.source_record_id,
                "outcome": "rejected",
                "reason": ",".join(sorted({v.rule for v in rejected.violations})),
            },
        )
        future = self.producer.send(
            self.topics.actual(REJECTS_TOPIC),
            key=rejected.source_record_id.encode("utf-8"),
            value=rejected.to_json(),
            headers=[
                ("connector", rejected.connector.encode()),
                ("content-type", REJECT_CONTENT_TYPE),
            ],
        )
        self._pending.append(future)
        return future

    def take_pending(self) -> list[FutureRecordMetadata]:
        """The sends since the last call, to be awaited later with `wait`."""
        pending, self._pending = self._pending, []
        self._partitions.clear()  # pick up a partition count change from the next page on
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
