"""Whether a cluster runs degraded: brokers down, partitions under-replicated or offline.

Read with the admin API (DescribeCluster and Metadata), so it works for the local cluster
and an existing one alike; `casebus kafka status` and `casebus status` show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from kafka import KafkaAdminClient

from casebus.kafka.broker import live_brokers


@dataclass(frozen=True)
class ClusterHealth:
    live: tuple[int, ...]  # broker ids registered and not fenced
    expected: int  # brokers the cluster should have
    partitions: int
    under_replicated: tuple[str, ...]  # "topic[p]": fewer in-sync replicas than replicas
    offline: tuple[str, ...]  # "topic[p]": no leader

    @property
    def degraded(self) -> bool:
        return len(self.live) < self.expected or bool(self.under_replicated or self.offline)

    def describe(self) -> str:
        state = "DEGRADED" if self.degraded else "healthy"
        text = (
            f"{state}: {len(self.live)} of {self.expected} brokers up "
            f"({', '.join(map(str, self.live)) or 'none'}); {self.partitions} partitions, "
            f"{len(self.under_replicated)} under-replicated, {len(self.offline)} offline"
        )
        if self.offline:
            text += f" ({_some(self.offline)})"
        elif self.under_replicated:
            text += f" ({_some(self.under_replicated)})"
        return text


def cluster_health(admin: KafkaAdminClient, expected: int | None = None) -> ClusterHealth:
    """The cluster as its brokers describe it now; `expected`: how many brokers it should
    have (None: every broker that any partition lists as a replica)."""
    live = live_brokers(admin.describe_cluster())
    under: list[str] = []
    offline: list[str] = []
    replicas: set[int] = set()
    count = 0
    for topic in admin.describe_topics():
        name = _field(topic, "name", "topic")
        for part in topic.get("partitions") or []:
            count += 1
            where = f"{name}[{_field(part, 'partition_index', 'partition')}]"
            replicas |= set(_field(part, "replica_nodes", "replicas") or ())
            state = partition_state(part)
            if state == "offline":
                offline.append(where)
            elif state == "under-replicated":
                under.append(where)
    wanted = expected if expected is not None else max(len(replicas | live), 1)
    return ClusterHealth(tuple(sorted(live)), wanted, count, tuple(under), tuple(offline))


PartitionState = Literal["in sync", "under-replicated", "offline"]


def partition_state(part: dict[str, Any]) -> PartitionState:
    """One partition of a Metadata answer: no leader, fewer in-sync replicas than replicas,
    or in sync."""
    if _field(part, "leader_id", "leader") in (None, -1):
        return "offline"
    nodes = _field(part, "replica_nodes", "replicas") or ()
    isr = _field(part, "isr_nodes", "isr") or ()
    return "under-replicated" if len(set(isr)) < len(set(nodes)) else "in sync"


def _field(d: dict[str, Any], *names: str) -> Any:
    """The first of these keys present (kafka-python names fields after the protocol's)."""
    for n in names:
        if n in d:
            return d[n]
    return None


def _some(parts: tuple[str, ...], shown: int = 3) -> str:
    more = len(parts) - shown
    return ", ".join(parts[:shown]) + (f" and {more} more" if more > 0 else "")
