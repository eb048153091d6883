"""The DLQ sender, one for every consumer: the original key, value bytes and headers, plus
headers saying what went wrong and where the record was read (casebus/dlq.py).

Sync and replay open their own producer (`DeadLetters.open`) and wait for the broker's
acknowledgement before committing a batch; the feeds send through their transactional
producer, so the DLQ entries commit with the batch's other records.
"""

from __future__ import annotations

import logging

from kafka import KafkaProducer
from kafka.errors import KafkaError

from casebus import logs
from casebus.config import Settings, TopicSpec
from casebus.dlq import dlq_headers
from casebus.ids import ConsumedRecord
from casebus.kafka.clients import make_admin, make_producer
from casebus.kafka.topics import ensure_topics_when_ready
from casebus.retry import RetryAfter
from pipeline.items import Redriven

log = logging.getLogger(__name__)

FLUSH_TIMEOUT_SECONDS = 30.0


class DeadLetters:
    def __init__(
        self, producer: KafkaProducer, topic: str, consumer: str, *, owned: bool = False
    ) -> None:
        self.topic, self._consumer, self._producer, self._owned = topic, consumer, producer, owned
        self.sent = 0

    @classmethod
    def open(cls, settings: Settings, topic: str, consumer: str, principal: str) -> DeadLetters:
        """With a producer of its own; the DLQ topic is created if missing (production
        topics are created by `casebus topics ensure`, a DLQ by its consumer)."""
        ensure_topics_when_ready(
            lambda: make_admin(settings, client_id=f"{consumer}-admin", principal=principal),
            settings,
            (TopicSpec(name=topic, partitions=1),),
        )
        producer = make_producer(settings, client_id=f"{consumer}-dlq", principal=principal)
        return cls(producer, topic, consumer, owned=True)

    def send(self, record: ConsumedRecord, error_class: str, message: str) -> None:
        log.warning(
            "to DLQ %s: %s:%d@%d %s: %s",
            self.topic,
            record.topic,
            record.partition,
            record.offset,
            error_class,
            message,
            extra=logs.at(record, outcome="dead-lettered", reason=error_class),
        )
        redrive_of = None
        if isinstance(record, Redriven):  # failed again: a new DLQ record, naming the old
            redrive_of = "{}:{}:{}".format(*record.dlq_position)
        self._producer.send(
            self.topic,
            key=record.key,
            value=record.value,
            headers=dlq_headers(record, error_class, message, self._consumer, redrive_of),
        )
        self.sent += 1

    def flush(self) -> None:
        """Wait until the broker acknowledged every DLQ record (raises RetryAfter if not)."""
        try:
            self._producer.flush(timeout=FLUSH_TIMEOUT_SECONDS)
        except KafkaError as exc:
            raise RetryAfter(f"DLQ {self.topic} not acknowledged: {exc}") from exc

    def close(self) -> None:
        if self._owned:
            self._producer.close(timeout=5)


class RecordedDeadLetters(DeadLetters):
    """Sends nothing: records what would go to the DLQ (a dry run's)."""

    def __init__(self, topic: str, consumer: str) -> None:
        self.topic, self._consumer, self._owned = topic, consumer, False
        self.sent = 0
        self.recorded: list[tuple[ConsumedRecord, str, str]] = []

    def send(self, record: ConsumedRecord, error_class: str, message: str) -> None:
        self.recorded.append((record, error_class, message))
        self.sent += 1

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
