"""The publisher picks partitions itself (cached murmur2 per key): it must pick exactly the
partition kafka-python's DefaultPartitioner would, for every key and partition count."""

from __future__ import annotations

import random

import pytest
from kafka.partitioner.default import DefaultPartitioner, murmur2

from casebus.publish import KeyHashes

pytestmark = pytest.mark.offline


class _Cluster:
    """The three ClusterMetadata calls DefaultPartitioner makes, for one topic."""

    def __init__(self, topic: str, partitions: int) -> None:
        self.topic = topic
        # Listed out of order, one without a leader: the default partitioner sorts them
        # and hashes keys over all partitions, available or not.
        self.all = random.Random(partitions).sample(range(partitions), partitions)

    def topics(self) -> set[str]:
        return {self.topic}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(self.all)

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return set(self.all[1:])


def _keys() -> list[bytes]:
    rng = random.Random(7)
    keys = [f"CASE-510500-2024-B{i:04d}".encode() for i in range(2000)]
    keys += ["泸市监处罚〔2024〕{i}号".encode() for i in range(500)]
    keys += [rng.randbytes(rng.randrange(0, 40)) for _ in range(2000)]
    keys += [b"", b"a", b"ab", b"abc", b"abcd", b"\xff" * 7, b"\x80" * 9]
    return keys


@pytest.mark.parametrize("count", [1, 2, 3, 6, 7, 12, 50])
def test_same_partition_as_the_default_partitioner(count: int) -> None:
    topic = "casebus.penalty"
    cluster = _Cluster(topic, count)
    default = DefaultPartitioner()
    hashes = KeyHashes(limit=1000)  # small: exercises the cache reset too
    partitions = sorted(cluster.partitions_for_topic(topic))
    for key in _keys() * 2:  # the second pass reads the cache
        expected = default.partition(topic, key, key, b"v", b"v", cluster)
        assert KeyHashes.partition(hashes(key), partitions) == expected, key


def test_hash_is_kafka_pythons_murmur2_masked() -> None:
    hashes = KeyHashes()
    for key in _keys():
        assert hashes(key) == murmur2(key) & 0x7FFFFFFF
        assert hashes(key) >= 0
