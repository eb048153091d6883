"""Coverage and the stuck watch as pure functions."""

from __future__ import annotations

import pytest

from pipeline.coverage import Coverage, PartitionCoverage, StuckWatch

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


def test_stuck_after_a_while_with_nothing_held() -> None:
    watch = StuckWatch(30)
    assert not watch.due(False, now=0)
    assert not watch.due(False, now=29)
    assert watch.due(False, now=31)
    assert not watch.due(False, now=40)  # the next check comes 30 s later
    assert not watch.due(True, now=70)  # holding partitions resets it
    assert not watch.due(False, now=71)
