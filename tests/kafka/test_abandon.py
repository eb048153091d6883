"""A producer given up on (casebus.kafka.clients.abandon) stops its threads, where
kafka-python's own close(timeout=0) leaves them running while batches are pending."""

from __future__ import annotations

import threading
import time

import pytest
from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError

from casebus.kafka.clients import abandon
from tests.fixtures.kafka import TopicFactory, harness


def _threads(name: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(name)]


def test_an_abandoned_producer_with_batches_pending_stops_its_threads(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory("abandon")

    def pending(name: str) -> KafkaProducer:
        producer = KafkaProducer(
            **harness(kafka_bootstrap),
            client_id=name,
            linger_ms=2_000,  # the record waits in the producer: a batch pending
            delivery_timeout_ms=4_000,
            request_timeout_ms=1_000,
        )
        producer.send(topic, b"pending")
        assert _threads(name), "no threads to watch"
        return producer

    closed = pending("closed-at-once")
    try:
        with pytest.raises(KafkaTimeoutError):
            closed.close(timeout=0)  # kafka-python 3.0.12: flush(0) raises first
        abandoned = pending("abandoned")
        abandon(abandoned)
        deadline = time.monotonic() + 4 + 30 + 5  # delivery timeout, abandon's margin
        while left := _threads("abandoned"):
            assert time.monotonic() < deadline, f"threads of an abandoned producer: {left}"
            time.sleep(0.2)
        assert _threads("closed-at-once"), "close(timeout=0) stopped them: abandon may go"
    finally:
        closed.close(timeout=10)
