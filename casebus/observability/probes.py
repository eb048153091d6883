"""The watcher's network checks, each cheap: one DescribeCluster and one Metadata request
for Kafka (the cluster's health exported as gauges on the way), ListOffsets for the depth
of the topics a service dead-letters or rejects to, an HTTP GET for the registry, and
`SELECT 1` for a database."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence

import requests
from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import OffsetSpec
from sqlalchemy import Engine, text

from casebus.config import Settings
from casebus.kafka.clients import make_admin
from casebus.kafka.health import cluster_health
from casebus.observability import metrics as m

log = logging.getLogger(__name__)


class KafkaProbe:
    """Reaches the cluster as `principal`: its health (gauges), and the depth of `topics`."""

    def __init__(self, settings: Settings, principal: str, topics: Sequence[str] = ()) -> None:
        self.settings, self.principal, self.topics = settings, principal, tuple(topics)
        self._admin: KafkaAdminClient | None = None
        kafka = settings.kafka
        self._expected = kafka.local.node_count if kafka.uses_local_broker else None

    def check(self) -> str | None:
        try:
            admin = self._client()
            health = cluster_health(admin, self._expected)
        except Exception as exc:
            self.close()  # a new client next time
            return f"Kafka unreachable: {type(exc).__name__}: {exc}"
        m.BROKERS_UP.set(len(health.live))
        m.BROKERS_EXPECTED.set(health.expected)
        m.UNDER_REPLICATED.set(len(health.under_replicated))
        m.OFFLINE.set(len(health.offline))
        self._depths(admin)
        return None

    def unreadable(self, topics: Sequence[str]) -> list[str]:
        """Those of `topics` the principal cannot see: missing, or not readable by it (a
        topic it may not describe is left out of the cluster's answer, as a missing one)."""
        visible = set(self._client().list_topics())
        return [t for t in topics if t not in visible]

    def _depths(self, admin: KafkaAdminClient) -> None:
        for topic in self.topics:
            try:
                parts = [
                    TopicPartition(topic, p["partition_index"])
                    for t in admin.describe_topics([topic])
                    for p in t.get("partitions") or []
                ]
                if not parts:
                    continue
                ends = admin.list_partition_offsets(dict.fromkeys(parts, OffsetSpec.LATEST))
                starts = admin.list_partition_offsets(dict.fromkeys(parts, OffsetSpec.EARLIEST))
            except Exception as exc:  # a DLQ not created yet, say
                log.debug("depth of %s: %s", topic, exc)
                continue
            depth = sum(ends[tp].offset - starts[tp].offset for tp in parts)
            m.TOPIC_MESSAGES.labels(topic).set(depth)

    def _client(self) -> KafkaAdminClient:
        if self._admin is None:
            self._admin = make_admin(
                self.settings, client_id=f"casebus-probe-{self.principal}", principal=self.principal
            )
        return self._admin

    def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            with contextlib.suppress(Exception):
                admin.close()


def registry_check(url: str, timeout: float = 2.0) -> Callable[[], str | None]:
    """The registry answers (401 included: it is up, asking who calls)."""

    def check() -> str | None:
        try:
            answer = requests.get(url.rstrip("/") + "/", timeout=timeout)
        except requests.RequestException as exc:
            return f"registry {url} unreachable: {type(exc).__name__}"
        if answer.status_code >= 500:
            return f"registry {url} answers {answer.status_code}"
        return None

    return check


def database_check(engine: Callable[[], Engine | None]) -> Callable[[], str | None]:
    """`SELECT 1` on the service's database (`engine()`: None while not connected yet)."""

    def check() -> str | None:
        found = engine()
        if found is None:
            return "database not connected yet"
        try:
            with found.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            return f"database unreachable: {type(exc).__name__}"
        return None

    return check
