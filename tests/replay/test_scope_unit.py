"""A case's partition is the one the producers' default partitioner picks; how a large read
is cut into slices for reader processes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kafka import TopicPartition
from kafka.partitioner.default import DefaultPartitioner

from services.replay.scope import partition_for, slices

pytestmark = pytest.mark.offline


class _Cluster:
    """The two questions kafka-python's partitioner asks of the cluster metadata."""

    def __init__(self, partitions: int) -> None:
        self.partitions = set(range(partitions))

    def topics(self) -> set[str]:
        return {"t"}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions


@pytest.mark.parametrize("partitions", [1, 3, 6, 8])
def test_partition_for_matches_the_default_partitioner(partitions: int) -> None:
    cluster = _Cluster(partitions)
    for n in range(200):
        key = f"CASE-510500-2025-{n:05d}".encode()
        picked = DefaultPartitioner().partition("t", key, key, None, None, cluster)
        assert partition_for(key, partitions) == picked


def test_each_reader_gets_a_contiguous_slice_of_every_partition() -> None:
    a, b = TopicPartition("casebus.penalty", 0), TopicPartition("casebus.lead", 2)
    got = slices([a, b], {a: 10, b: 0}, {a: 17, b: 2}, 3)
    assert got == [
        [("casebus.lead", 2, 0, 1), ("casebus.penalty", 0, 10, 13)],
        [("casebus.lead", 2, 1, 2), ("casebus.penalty", 0, 13, 15)],
        [("casebus.penalty", 0, 15, 17)],
    ]


def test_an_empty_partition_gives_no_slice() -> None:
    a = TopicPartition("casebus.penalty", 0)
    assert slices([a], {a: 5}, {a: 5}, 2) == []


@given(
    bounds=st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 1000)), max_size=6),
    readers=st.integers(1, 8),
)
def test_slices_cover_each_partition_once_in_order(
    bounds: list[tuple[int, int]], readers: int
) -> None:
    parts = [TopicPartition("t", p) for p in range(len(bounds))]
    starts = {tp: lo for tp, (lo, _) in zip(parts, bounds, strict=True)}
    ends = {tp: lo + n for tp, (lo, n) in zip(parts, bounds, strict=True)}
    got = slices(parts, starts, ends, readers)
    assert len(got) <= readers and all(got)
    for tp in parts:
        mine = [(lo, hi) for group in got for t, p, lo, hi in group if (t, p) == tuple(tp)]
        covered = [o for lo, hi in mine for o in range(lo, hi)]
        assert covered == list(range(starts[tp], ends[tp]))  # once each, in reader order
        sizes = [hi - lo for lo, hi in mine]
        assert not sizes or max(sizes) - min(sizes) <= 1
