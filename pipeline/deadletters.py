"""What the DLQs hold: every consumer's counted by reason (the `casebus.error.class` header
every DLQ record carries, casebus/dlq.py, for each consumer named in
`casebus.error.consumer`), and one DLQ read record by record (`DlqEntry`).

Reading a DLQ is the admin principal's privilege (casebus/security/acls.py: no other
principal may read one), so both read as it unless told otherwise.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kafka import TopicPartition
from kafka.errors import GroupAuthorizationFailedError, KafkaError, TopicAuthorizationFailedError

from casebus.config import Settings
from casebus.dlq import ERROR_HEADER_PREFIX, REDRIVE_OF, original_headers
from casebus.kafka.clients import make_admin, make_consumer
from casebus.security.principals import admin
from pipeline.items import Redriven
from pipeline.scan import POLL_MS, scan

CLASS, CONSUMER = ERROR_HEADER_PREFIX + "class", ERROR_HEADER_PREFIX + "consumer"


@dataclass
class DlqReasons:
    topic: str
    consumer: str  # as the DLQ records name it
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.reasons.values())


def dlq_topics(settings: Settings) -> list[str]:
    """Every DLQ of the deployment: each agency's sync's and the feeds'."""
    syncs = [settings.sync.dlq_for(s.agency) for s in settings.sync.subscriptions]
    return sorted({*syncs, settings.feeds.dlq_topic})


def dlq_reasons(settings: Settings, *, last: int = 100_000) -> list[DlqReasons]:
    """One entry per (DLQ topic, consumer) holding records, by reason."""
    found: dict[tuple[str, str], DlqReasons] = {}
    topics = dlq_topics(settings)
    reader = admin(settings)
    for record in scan(
        settings, topics, client_id="casebus-dlq-reasons", last=last, principal=reader
    ):
        headers = {k: v for k, v in record.headers or ()}
        consumer = (headers.get(CONSUMER) or b"?").decode(errors="replace")
        reason = (headers.get(CLASS) or b"(none)").decode(errors="replace")
        key = (record.topic, consumer)
        found.setdefault(key, DlqReasons(record.topic, consumer)).reasons[reason] += 1
    return [found[k] for k in sorted(found)]


# -- one DLQ, record by record (`casebus dlq show`, `casebus dlq redrive`) -----------------


class DlqAccessDenied(Exception):
    """The principal may not read the DLQ (its ACLs: reading a DLQ is the admin's)."""

    def __init__(self, principal: str, topic: str, error: str) -> None:
        super().__init__(
            f"principal {principal} may not read {topic} ({error}): reading and redriving a "
            "DLQ is the admin principal's privilege"
        )
        self.principal, self.topic = principal, topic


@dataclass(frozen=True, slots=True)
class DlqEntry:
    """One DLQ record: where it sits, when it was written, why, and the original record."""

    dlq_topic: str
    dlq_partition: int
    dlq_offset: int
    timestamp: datetime  # when it was dead-lettered (the DLQ record's timestamp)
    error_class: str
    message: str
    consumer: str
    topic: str  # where the original record was read
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]  # the original record's (the DLQ's taken off)
    redrive_of: str | None = None  # a redrive's new DLQ record: the one it was sent from

    @classmethod
    def of(cls, record: Any) -> DlqEntry:
        """From a consumed DLQ record (kafka-python's ConsumerRecord)."""
        found = {
            k.removeprefix(ERROR_HEADER_PREFIX): v.decode(errors="replace")
            for k, v in record.headers or ()
            if k.startswith(ERROR_HEADER_PREFIX)
        }
        return cls(
            dlq_topic=record.topic,
            dlq_partition=record.partition,
            dlq_offset=record.offset,
            timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC),
            error_class=found.get("class", "(none)"),
            message=found.get("message", ""),
            consumer=found.get("consumer", "?"),
            topic=found.get("topic", "?"),
            partition=_int(found.get("partition")),
            offset=_int(found.get("offset")),
            key=record.key,
            value=record.value,
            headers=original_headers(record.headers),
            redrive_of=found.get(REDRIVE_OF),
        )

    @property
    def position(self) -> tuple[int, int]:
        return (self.dlq_partition, self.dlq_offset)

    def redriven(self) -> Redriven:
        """The original record, to be sent through the pipeline again."""
        return Redriven(
            self.topic,
            self.partition,
            self.offset,
            self.value,
            self.key,
            self.headers,
            self.dlq_topic,
            self.dlq_partition,
            self.dlq_offset,
        )


def _int(text: str | None) -> int:
    try:
        return int(text or "-1")
    except ValueError:
        return -1


@dataclass(frozen=True, slots=True)
class DlqRead:
    """A DLQ read from its beginning to the end offsets taken when the read started (what
    a redrive appends while it runs lies past them)."""

    topic: str
    ends: dict[int, int]  # partition -> end offset read to
    entries: list[DlqEntry]


def read_dlq(settings: Settings, topic: str, *, principal: str) -> DlqRead:
    """Every record of the DLQ `topic`, as `principal` (raises DlqAccessDenied)."""
    admin = make_admin(settings, client_id="casebus-dlq-admin", principal=principal)
    try:
        (described,) = admin.describe_topics([topic])
    except KafkaError as exc:
        _denied(principal, topic, exc)
        raise
    finally:
        admin.close()
    code = described.get("error_code", 0)
    if code == TopicAuthorizationFailedError.errno:
        raise DlqAccessDenied(principal, topic, TopicAuthorizationFailedError.__name__)
    if code:  # no such topic: nothing was dead-lettered yet
        return DlqRead(topic, {}, [])
    # Refused before reading, even when the DLQ is empty (its offsets need only describe).
    allowed = described.get("authorized_operations")
    if allowed is not None and "READ" not in allowed:
        raise DlqAccessDenied(
            principal, topic, f"{TopicAuthorizationFailedError.__name__}: no READ"
        )
    parts = [TopicPartition(topic, p["partition_index"]) for p in described.get("partitions") or ()]
    consumer = make_consumer(settings, None, "casebus-dlq-read", principal=principal)
    try:
        try:
            ends = consumer.end_offsets(parts)
            entries = [DlqEntry.of(r) for r in _read(consumer, parts, ends)]
        except KafkaError as exc:
            _denied(principal, topic, exc)
            raise
    finally:
        consumer.close()
    return DlqRead(topic, {tp.partition: o for tp, o in ends.items()}, entries)


def _denied(principal: str, topic: str, exc: KafkaError) -> None:
    if isinstance(exc, TopicAuthorizationFailedError | GroupAuthorizationFailedError):
        raise DlqAccessDenied(principal, topic, type(exc).__name__) from exc


def _read(consumer: Any, parts: list[TopicPartition], ends: dict[TopicPartition, int]) -> Any:
    wanted = [tp for tp in parts if ends[tp] > 0]
    if not wanted:
        return
    consumer.assign(wanted)
    for tp in wanted:
        consumer.seek_to_beginning(tp)
    open_parts = set(wanted)
    while open_parts:
        for tp, records in consumer.poll(timeout_ms=POLL_MS).items():
            for record in records:
                if record.offset < ends[tp]:
                    yield record
        open_parts = {tp for tp in open_parts if consumer.position(tp) < ends[tp]}
