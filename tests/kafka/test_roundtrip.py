"""Produce to and consume from the real broker: keys, headers and values round-trip."""

from __future__ import annotations

from kafka import KafkaConsumer, TopicPartition

from casebus.config import Settings
from casebus.kafka.clients import make_consumer, make_producer
from casebus.security.principals import admin
from tests.fixtures.kafka import TopicFactory


def read_all(consumer: KafkaConsumer, expected: int, timeout_ms: int = 15_000) -> list:
    records: list = []
    while len(records) < expected:
        batch = consumer.poll(timeout_ms=timeout_ms)
        if not batch:
            break
        for part in batch.values():
            records.extend(part)
    return records


def test_keys_headers_values_round_trip(settings: Settings, topic_factory: TopicFactory) -> None:
    topic = topic_factory(partitions=3)
    producer = make_producer(settings, "test-producer", principal=admin(settings))
    sent = []
    for i in range(30):
        key = f"case-{i % 5}".encode()
        value = f"事件 {i}".encode()
        headers = [("event_id", str(i).encode()), ("owner", b"510500-SAMR")]
        producer.send(topic, key=key, value=value, headers=headers)
        sent.append((key, value, headers))
    producer.flush()
    producer.close()

    consumer = make_consumer(
        settings, group_id=None, client_id="test-consumer", principal=admin(settings)
    )
    parts = [TopicPartition(topic, p) for p in range(3)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    got = read_all(consumer, 30)
    consumer.close()

    assert sorted((r.key, r.value, list(r.headers)) for r in got) == sorted(sent)
    # Keying keeps one case on one partition, in order.
    by_key: dict[bytes, set[int]] = {}
    for r in got:
        by_key.setdefault(r.key, set()).add(r.partition)
    assert all(len(p) == 1 for p in by_key.values())
    for key in by_key:
        values = [r.value for r in sorted(got, key=lambda r: r.offset) if r.key == key]
        assert values == [v for k, v, _ in sent if k == key]
