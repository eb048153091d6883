"""Coverage and the stuck watch as pure functions."""

from __future__ import annotations

import pytest
from kafka import TopicPartition

from pipeline.coverage import Coverage, PartitionCoverage, StuckWatch, unfetched

pytestmark = pytest.mark.offline


def test_unread_counts_from_the_stored_offset_or_the_start() -> None:
    assert PartitionCoverage("t", 0, 10, 50, None).unread == 40
    assert PartitionCoverage("t", 0, 0, 50, 50).unread == 0
    assert PartitionCoverage("t", 0, 0, 50, 51).unread == 0  # past a commit marker


def test_describe_names_partitions_as_ranges() -> None:
    parts = [PartitionCoverage("a", p, 0, 0, None) for p in (0, 1, 2, 4)]
    parts += [PartitionCoverage("b", 0, 0, 1, 0)]
    coverage = Coverage(tuple(parts))
    assert coverage.describe() == "a[0-2,4], b[0]"
    assert not coverage.caught_up and [p.topic for p in coverage.lagging] == ["b"]


def test_due_after_a_while_with_nothing_fetched() -> None:
    watch = StuckWatch(30)
    assert not watch.due(False, now=0)
    assert not watch.due(False, now=29)
    assert watch.due(False, now=31)
    assert not watch.due(False, now=40)  # the next check comes 30 s later
    assert watch.due(False, now=61)
    assert not watch.due(True, now=70)  # records fetched reset it
    assert not watch.due(False, now=71)
    assert not watch.due(False, now=100)
    assert watch.due(False, now=101)


def test_unfetched_counts_records_past_held_positions() -> None:
    a, b, c, d = (TopicPartition("t", n) for n in range(4))
    positions = {a: 10, b: 50, c: None, d: 7}
    ends = {a: 50, b: 50, c: 9, d: 7}
    assert unfetched(positions, ends) == {a: 40}
    assert unfetched({a: 51}, {a: 50}) == {}  # past a commit marker the end already counts
    assert unfetched({a: 0}, {}) == {}  # no end known: nothing claimed


def test_topic_metadata_is_asked_again_when_the_node_asked_goes_away(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sync starting while a node of the cluster is killed (the node-kill test, in CI):
    the metadata request to that node fails; the next one, to another node, answers."""
    from kafka.errors import KafkaConnectionError

    from pipeline import coverage

    class Consumer:
        asked = 0

        def topics(self) -> set[str]:
            self.asked += 1
            if self.asked <= 2:
                raise KafkaConnectionError("111 ECONNREFUSED")
            return {"casebus.penalty"}

    monkeypatch.setattr(coverage.time, "sleep", lambda _: None)
    consumer = Consumer()
    wanted = ["casebus.penalty", "casebus.lead"]
    assert coverage.unreadable_topics(consumer, wanted) == ["casebus.lead"]  # type: ignore[arg-type]
    assert consumer.asked == 3
    with pytest.raises(KafkaConnectionError):
        coverage.unreadable_topics(Consumer(), wanted, attempts=2)  # type: ignore[arg-type]
