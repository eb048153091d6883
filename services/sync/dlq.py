"""The sync DLQ: original key, value bytes and headers, plus headers saying what went wrong."""

from __future__ import annotations

import logging
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from casebus.config import Settings, TopicSpec
from casebus.dlq import dlq_headers
from casebus.kafka.clients import make_admin, make_producer
from casebus.kafka.topics import ensure_topics
from services.sync.decode import TransientFault

log = logging.getLogger(__name__)

FLUSH_TIMEOUT_SECONDS = 30.0


class DeadLetters:
    def __init__(self, settings: Settings, topic: str, consumer: str, principal: str) -> None:
        self.topic = topic
        self._consumer = consumer
        admin = make_admin(settings, client_id=f"{consumer}-admin", principal=principal)
        try:  # production topics are created by `casebus topics ensure`; the DLQ by its user
            ensure_topics(admin, settings, (TopicSpec(name=topic, partitions=1),))
        finally:
            admin.close()
        self._producer: KafkaProducer = make_producer(
            settings, client_id=f"{consumer}-dlq", principal=principal
        )

    def send(self, record: Any, error_class: str, message: str) -> None:
        log.warning(
            "to DLQ %s: %s:%d@%d %s: %s",
            self.topic,
            record.topic,
            record.partition,
            record.offset,
            error_class,
            message,
        )
        self._producer.send(
            self.topic,
            key=record.key,
            value=record.value,
            headers=dlq_headers(record, error_class, message, self._consumer),
        )

    def flush(self) -> None:
        """Wait until the broker acknowledged every DLQ record (raises TransientFault if not)."""
        try:
            self._producer.flush(timeout=FLUSH_TIMEOUT_SECONDS)
        except KafkaError as exc:
            raise TransientFault(f"DLQ {self.topic} not acknowledged: {exc}") from exc

    def close(self) -> None:
        self._producer.close(timeout=5)
