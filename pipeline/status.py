"""Where every consumer of this deployment stands: each agency's sync (offsets stored in its
database), the feeds (offsets committed with its transactions) and replays in progress.

A consumer is `idle` when it has read every partition to the end, `catching up` while it
has unread events and moved in the last STUCK_AFTER seconds (or has live members), `stuck`
when it has unread events and neither, and `not started` when it never stored an offset.
A sync subscribed to a topic that does not exist (or that this command's principal may not
read) is `missing topic`, the topic named in its detail.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from agencydb.engine import database_exists, make_engine
from agencydb.models import ConsumerOffset
from casebus.config import Settings
from casebus.kafka.clients import make_admin, make_consumer
from casebus.kafka.health import ClusterHealth, cluster_health
from casebus.security.principals import REPLAY
from casebus.topics import REJECTS_TOPIC
from pipeline.coverage import unreadable_topics
from pipeline.link import LinkStatus, link_statuses

log = logging.getLogger(__name__)

STUCK_AFTER = 60.0  # seconds without progress while events wait


@dataclass
class PartitionLag:
    topic: str
    partition: int
    position: int | None
    end: int
    lag: int


@dataclass
class ConsumerStatus:
    name: str  # "sync 510500-SAMR", "feeds", "replay 500110-SAMR"
    state: str
    lag: int
    members: int = 0
    last_applied: str | None = None
    dlq: int = 0
    partitions: list[PartitionLag] = field(default_factory=list)
    detail: str = ""
    missing: list[str] = field(default_factory=list)  # subscribed topics it cannot read


@dataclass
class Status:
    consumers: list[ConsumerStatus]
    rejects: int
    cluster: ClusterHealth | None = None  # None: it could not be described
    links: list[LinkStatus] = field(default_factory=list)  # two regions: the copies' lag

    def to_dict(self) -> dict[str, Any]:
        cluster = None
        if self.cluster is not None:
            cluster = {**asdict(self.cluster), "degraded": self.cluster.degraded}
        return {
            "consumers": [asdict(c) for c in self.consumers],
            "rejects": self.rejects,
            "cluster": cluster,
            "links": [asdict(link) for link in self.links],
        }


def _depth(consumer: KafkaConsumer, topic: str) -> int:
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    if not parts:
        return 0
    ends, starts = consumer.end_offsets(parts), consumer.beginning_offsets(parts)
    return sum(ends[tp] - starts[tp] for tp in parts)


def _members(admin: KafkaAdminClient, group: str) -> int:
    described = admin.describe_groups([group])
    return len((described.get(group) or {}).get("members") or [])


def _state(lag: int, members: int, moved: float | None, started: bool) -> str:
    if not started:
        return "not started"
    if lag == 0:
        return "idle"
    recent = moved is not None and time.time() - moved < STUCK_AFTER
    return "catching up" if members or recent else "stuck"


def _lags(
    consumer: KafkaConsumer, topics: list[str], stored: dict[tuple[str, int], int]
) -> list[PartitionLag]:
    parts = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
    if not parts:
        return []
    ends, starts = consumer.end_offsets(parts), consumer.beginning_offsets(parts)
    out = []
    for tp in sorted(parts):
        at = stored.get((tp.topic, tp.partition))
        lag = max(0, ends[tp] - (starts[tp] if at is None else at))
        out.append(PartitionLag(tp.topic, tp.partition, at, ends[tp], lag))
    return out


def sync_status(
    settings: Settings, agency: str, consumer: KafkaConsumer, admin: KafkaAdminClient
) -> ConsumerStatus:
    group = settings.sync.group_for(agency)
    url = settings.sync_database_url(agency)
    stored: dict[tuple[str, int], int] = {}
    moved: float | None = None
    detail = ""
    if database_exists(url):
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                query = select(
                    ConsumerOffset.topic,
                    ConsumerOffset.partition,
                    ConsumerOffset.next_offset,
                    ConsumerOffset.updated_at,
                ).where(ConsumerOffset.consumer_group == group)
                for t, p, o, at in conn.execute(query):
                    stored[(t, p)] = o
                    moved = max(moved or 0.0, at.timestamp())
        except DBAPIError as exc:
            detail = f"database unreadable: {exc.orig}"
        finally:
            engine.dispose()
    else:
        detail = "no database yet"
    topics = settings.sync.names_for(agency).actual_names()
    lags = _lags(consumer, topics, stored)
    lag = sum(p.lag for p in lags)
    members = _members(admin, group)
    # As this command's principal sees them: a topic that exists but that only the sync's
    # principal may not read shows in the sync's warning and /readyz, not here.
    missing = unreadable_topics(consumer, topics)
    state = _state(lag, members, moved, bool(stored))
    if missing:
        state = "missing topic"
        detail = "; ".join(filter(None, [f"missing topics: {', '.join(missing)}", detail]))
    return ConsumerStatus(
        f"sync {agency}",
        state,
        lag,
        members,
        datetime.fromtimestamp(moved, UTC).isoformat() if moved else None,
        _depth(consumer, settings.sync.dlq_for(agency)),
        lags,
        detail,
        missing,
    )


def feeds_status(
    settings: Settings, consumer: KafkaConsumer, admin: KafkaAdminClient
) -> ConsumerStatus:
    fs = settings.feeds
    committed = admin.list_group_offsets({fs.group_id: None}).get(fs.group_id, {})
    stored = {(tp.topic, tp.partition): om.offset for tp, om in committed.items()}
    lags = _lags(consumer, [fs.source_topic], stored)
    lag = sum(p.lag for p in lags)
    members = _members(admin, fs.group_id)
    state = _state(lag, members, None, bool(stored))
    return ConsumerStatus("feeds", state, lag, members, None, _depth(consumer, fs.dlq_topic), lags)


def replay_statuses(settings: Settings) -> list[ConsumerStatus]:
    out = []
    for path in sorted((settings.var_dir / "replay").glob("*.json")):
        try:
            body = json.loads(path.read_text())
            os.kill(int(body["pid"]), 0)  # still running?
        except (OSError, ValueError, KeyError):
            continue
        left = max(0, int(body["total"]) - int(body["read"]))
        elapsed = max(1e-6, float(body["updated"]) - float(body["started"]))
        rate = int(body["applied"]) / elapsed
        moved = float(body["updated"])
        state = "idle" if left == 0 else _state(left, 0, moved, True)
        detail = f"{body['read']:,} of {body['total']:,} offsets read, {rate:,.0f} events/s"
        updated = datetime.fromtimestamp(moved, UTC).isoformat()
        out.append(ConsumerStatus(f"replay {path.stem}", state, left, 1, updated, detail=detail))
    return out


def _health(settings: Settings, admin: KafkaAdminClient) -> ClusterHealth | None:
    """Brokers up and partitions under-replicated or offline (of the topics replay may see)."""
    kafka = settings.kafka
    expected = kafka.local.node_count if kafka.uses_local_broker else None
    try:
        return cluster_health(admin, expected)
    except KafkaError as exc:
        log.warning("cannot describe the cluster: %s", exc)
        return None


def status(settings: Settings) -> Status:
    consumer = make_consumer(settings, None, "casebus-status", principal=REPLAY)
    admin = make_admin(settings, client_id="casebus-status-admin", principal=REPLAY)
    try:
        consumer.topics()
        consumers = [
            sync_status(settings, sub.agency, consumer, admin)
            for sub in settings.sync.subscriptions
        ]
        consumers.append(feeds_status(settings, consumer, admin))
        consumers += replay_statuses(settings)
        links = link_statuses(settings)
        return Status(consumers, _depth(consumer, REJECTS_TOPIC), _health(settings, admin), links)
    finally:
        consumer.close()
        admin.close()
