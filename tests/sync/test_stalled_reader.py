"""Replay's readers against the real broker (pipeline/reading.py): a client that stops
fetching before the end is replaced, and the new one reads on from where the old one's
records ended: every offset once, whether batches of a scope (`AssignedSource`) or the
records of one case (services/replay/scope.py)."""

from __future__ import annotations

import threading

import pytest
from kafka import KafkaConsumer, TopicPartition

from casebus.topics import TopicNames
from pipeline.reading import Reader
from pipeline.sources import AssignedSource, Scope
from services.replay.scope import case_closure
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
    reader = Reader(first, reconnect=connect, stalled_after=2, poll_ms=200)
    source = AssignedSource(reader, scope, 10)
    stop = threading.Event()
    read: list[tuple[int, int]] = []

    def read_rest() -> None:
        while (batch := source.poll(stop)) is not None:
            read.extend((r.partition, r.offset) for r in batch)

    try:
        # Read until a partition is read to its end (the new client is given only the
        # others), then the wedge: the client fetches nothing from now on.
        filled = [tp for tp in parts if ends[tp] > 0]  # the others are never assigned
        while not read or not any(first.position(tp) >= ends[tp] for tp in filled):
            batch = source.poll(stop)
            assert batch
            read += [(r.partition, r.offset) for r in batch]
        assert not all(first.position(tp) >= ends[tp] for tp in filled)
        first.pause(*first.assignment())
        thread = threading.Thread(target=read_rest, daemon=True)
        thread.start()
        thread.join(timeout=60)
        assert not thread.is_alive(), f"the reader hangs after {len(read)} records"
    finally:
        for consumer in made:
            consumer.close()
    assert reader.replacements == 1 and len(made) == 2, caplog.text[-2000:]
    assert len(read) == len(set(read)) == 60
    assert "nothing fetched for 2s; replacing the Kafka client" in caplog.text
    assert source.position() == 60  # replay's progress: every partition read to its end


def test_a_case_read_through_a_client_that_stops_fetching_finds_every_record(
    sync_topics: SyncTopics,
    producer: EventProducer,
    kafka_bootstrap: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wanted = "CASE-WEDGED"
    producer.send_all(
        penalty(f"W-{i}", case_id=wanted if i % 3 == 0 else f"CASE-W-{i}") for i in range(90)
    )
    made: list[KafkaConsumer] = []

    def connect() -> KafkaConsumer:
        config = harness(kafka_bootstrap)
        made.append(KafkaConsumer(**config, isolation_level="read_committed", max_poll_records=4))
        return made[-1]

    first = connect()
    poll = first.poll

    def poll_once(*args: object, **kwargs: object) -> object:
        got = poll(*args, **kwargs)  # type: ignore[arg-type]
        if got:  # the wedge: the client fetches nothing after its first records
            first.pause(*first.assignment())
        return got

    first.poll = poll_once  # type: ignore[method-assign]
    reader = Reader(first, reconnect=connect, stalled_after=2, poll_ms=200)
    try:
        scope = case_closure(
            reader, TopicNames.parse(sync_topics.pairs()), wanted, None, lambda _: [], {}
        )
    finally:
        for consumer in made:
            consumer.close()
    found = [(r.partition, r.offset) for batch in scope.records.values() for r in batch]
    assert reader.replacements == 1 and len(made) == 2, caplog.text[-2000:]
    assert len(found) == len(set(found)) == 30
    assert {r.key for batch in scope.records.values() for r in batch} == {wanted.encode()}
