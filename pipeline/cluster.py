"""The bus's health as the console's admin page shows it: does the cluster answer, which
brokers are up, each configured topic's partitions without a leader or with replicas out of
sync (classified by casebus/kafka/health.py), the registry's answer, the cross-region link."""

from __future__ import annotations

from dataclasses import dataclass, field

from kafka.errors import KafkaError

from casebus.config import Settings
from casebus.kafka.broker import live_brokers
from casebus.kafka.clients import make_admin
from casebus.kafka.health import partition_state
from casebus.process import answers
from casebus.security.principals import REPLAY


@dataclass
class TopicHealth:
    name: str
    partitions: int
    without_leader: int
    under_replicated: int

    @property
    def ok(self) -> bool:
        return self.partitions > 0 and not (self.without_leader or self.under_replicated)


@dataclass
class ClusterHealth:
    bootstrap: str
    reachable: bool
    error: str = ""
    cluster_id: str | None = None
    controller_id: int | None = None
    brokers: list[str] = field(default_factory=list)
    topics: list[TopicHealth] = field(default_factory=list)
    registry_url: str = ""
    registry_ok: bool = False
    # This deployment runs no cross-region link process: each region's agencies share one
    # cluster (config/casebus.toml), so there is no mirror to watch.
    link: str = "not configured"

    @property
    def ok(self) -> bool:
        return self.reachable and self.registry_ok and all(t.ok for t in self.topics)


def cluster_health(settings: Settings) -> ClusterHealth:
    health = ClusterHealth(settings.kafka.bootstrap_servers, False)
    health.registry_url = settings.registry.url
    health.registry_ok = answers(settings.registry.url + "/")
    try:
        admin = make_admin(settings, client_id="casebus-console-health", principal=REPLAY)
    except KafkaError as exc:
        health.error = f"{type(exc).__name__}: {exc}"
        return health
    try:
        cluster = admin.describe_cluster()
        health.reachable = True
        health.cluster_id = cluster.get("cluster_id")
        health.controller_id = cluster.get("controller_id")
        live = live_brokers(cluster)
        health.brokers = [
            f"{b['broker_id']} {b['host']}:{b['port']}"
            + ("" if b["broker_id"] in live else " (down)")
            for b in sorted(cluster.get("brokers", []), key=lambda b: b["broker_id"])
        ]
        wanted = [t.name for t in settings.topics]
        described = {t["name"]: t for t in admin.describe_topics(wanted)}
        for name in wanted:
            parts = (described.get(name) or {}).get("partitions") or []
            states = [partition_state(p) for p in parts]
            health.topics.append(
                TopicHealth(
                    name,
                    len(parts),
                    states.count("offline"),
                    states.count("under-replicated"),
                )
            )
    except KafkaError as exc:
        health.error = f"{type(exc).__name__}: {exc}"
    finally:
        admin.close()
    return health
