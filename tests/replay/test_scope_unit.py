"""A case's partition is the one the producers' default partitioner picks."""

from __future__ import annotations

import pytest
from kafka.partitioner.default import DefaultPartitioner

from services.replay.scope import partition_for

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
