"""Replay's reader (`AssignedSource`) against the real broker: a client that stops fetching
before the scope's end is replaced, and the new one reads on from where the old one's
records ended: every offset once."""

from __future__ import annotations

import threading

import pytest
from kafka import KafkaConsumer, TopicPartition

from pipeline.sources import AssignedSource, Scope
from tests.fixtures.kafka import harness
from tests.sync.helpers import EventProducer, SyncTopics, penalty

pytestmark = pytest.mark.slow


def test_a_reader_whose_client_stops_fetching_reads_on_with_a_new_one(
    sync_topics: SyncTopics,
    producer: EventProducer,
    kafka_bootstrap: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    producer.send_all(penalty(f"R-{i}", case_id=f"CASE-R-{i}") for i in range(60))
    topic = sync_topics.actual["casebus.penalty"]
    made: list[KafkaConsumer] = []

    def connect() -> KafkaConsumer:
        made.append(KafkaConsumer(**harness(kafka_bootstrap), isolation_level="read_committed"))
        return made[-1]

    first = connect()
    parts = [TopicPartition(topic, p) for p in sorted(first.partitions_for_topic(topic) or ())]
    ends = first.end_offsets(parts)
    assert sum(ends.values()) == 60
    scope = Scope(starts={tp: 0 for tp in parts}, ends=ends)
    source = AssignedSource(first, scope, 10, poll_ms=200, reconnect=connect, stalled_after=2)
    stop = threading.Event()
    read: list[tuple[int, int]] = []

    def read_rest() -> None:
        while (batch := source.poll(stop)) is not None:
            read.extend((r.partition, r.offset) for r in batch)

    try:
        batch = source.poll(stop)
        assert batch
        read += [(r.partition, r.offset) for r in batch]
        first.pause(*first.assignment())  # the wedge: the client fetches nothing from now on
        reader = threading.Thread(target=read_rest, daemon=True)
        reader.start()
        reader.join(timeout=60)
        assert not reader.is_alive(), f"the reader hangs after {len(read)} records"
    finally:
        for consumer in made:
            consumer.close()
    assert source.replacements == 1 and len(made) == 2, caplog.text[-2000:]
    assert len(read) == len(set(read)) == 60
    assert "nothing fetched for 2s; replacing the Kafka client" in caplog.text
