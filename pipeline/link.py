"""How far each region's copies lag behind their sources (`casebus --region R status`).

For each other region S, MirrorMaker 2's flow S -> R keeps, in R's cluster, the Connect
offsets of what it copied (`mm2-offsets.S.internal`: per source partition, the last offset
copied, a record filtered out counting as copied). Against S's end offsets that gives the
records not yet copied that will cross (they carry the share header), and the age of the
oldest of them the seconds behind. The flow runs
while the group `S-mm2` of its Connect workers on R's cluster has members; S's cluster
unreachable from here is the link down (MirrorMaker, beside it, cannot reach it either).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import GroupState
from kafka.errors import KafkaError

from casebus.config import Settings, in_region
from casebus.kafka.clients import make_admin, make_consumer
from casebus.regions import share_header
from casebus.security.principals import REPLAY
from casebus.topics import SHARED_TOPICS, TopicNames
from pipeline.scan import scan

log = logging.getLogger(__name__)

SOURCE_CONNECTOR = "MirrorSourceConnector"
READ_CAP = 50_000  # source records read to count what will cross
# The states of a group with members.
LIVE_GROUP_STATES = [
    GroupState.STABLE,
    GroupState.PREPARING_REBALANCE,
    GroupState.COMPLETING_REBALANCE,
]


@dataclass
class LinkStatus:
    source: str  # the region copied from (its alias)
    target: str  # the region this runs in
    state: str  # "up", "mirror not running", "source unreachable"
    lag: int | None = None  # source records not copied yet (None: unknown)
    lag_seconds: float | None = None  # age of the oldest of them
    partitions: list[tuple[str, int, int]] = field(default_factory=list)  # topic, part, lag

    def describe(self) -> str:
        behind = "" if self.lag is None else f", {self.lag:,} records behind"
        if self.lag_seconds:
            behind += f" ({self.lag_seconds:,.0f} s)"
        return f"{self.source} -> {self.target}: {self.state}{behind}"


def copied_offsets(
    settings: Settings, source: str, *, principal: str = REPLAY
) -> dict[tuple[str, int], int]:
    """(topic, partition) at the source -> the next offset MirrorMaker 2 will copy."""
    found: dict[tuple[str, int], int] = {}
    topic = f"mm2-offsets.{source}.internal"
    for record in scan(
        settings, [topic], client_id="casebus-link-status", last=10**9, principal=principal
    ):
        try:
            connector, where = json.loads(record.key)
            if connector != SOURCE_CONNECTOR or where.get("cluster") != source:
                continue
            key = (str(where["topic"]), int(where["partition"]))
            if record.value is None:
                found.pop(key, None)
            else:
                found[key] = int(json.loads(record.value)["offset"]) + 1
        except (ValueError, KeyError, TypeError):
            continue
    return found


def _waiting(
    consumer: KafkaConsumer,
    ends: dict[TopicPartition, int],
    copied: dict[TopicPartition, int],
    header: str,
) -> tuple[dict[TopicPartition, int], float]:
    """The records from `copied` to `ends` that will cross (they carry `header`: a record
    filtered out at the end of a partition is not committed as copied until a later one
    is), per partition, and the age in seconds of the oldest. Past READ_CAP records in
    all, every record left counts (a link down for days: a bound, not a count)."""
    behind = {tp: 0 for tp in copied}
    oldest: int | None = None
    consumer.assign(list(copied))
    for tp, offset in copied.items():
        consumer.seek(tp, offset)
    read, open_parts = 0, set(copied)
    deadline = time.monotonic() + 10
    while open_parts and read < READ_CAP and time.monotonic() < deadline:
        for tp, records in consumer.poll(timeout_ms=500).items():
            for record in records:
                if record.offset >= ends[tp]:
                    break
                read += 1
                if any(k == header for k, _ in record.headers or ()):
                    behind[tp] += 1
                    oldest = record.timestamp if oldest is None else min(oldest, record.timestamp)
        open_parts = {tp for tp in open_parts if consumer.position(tp) < ends[tp]}
    for tp in open_parts:  # not read to the end: count what is left
        behind[tp] += ends[tp] - consumer.position(tp)
    age = max(0.0, time.time() - oldest / 1000) if oldest is not None else 0.0
    return {tp: n for tp, n in behind.items() if n}, age


def link_status(settings: Settings, source: str, *, principal: str = REPLAY) -> LinkStatus:
    here = settings.home
    assert here is not None and here.cluster is not None
    target = here.cluster.alias
    admin = make_admin(settings, client_id="casebus-link-status", principal=principal)
    try:
        # Listed, not described: kafka-python cannot decode a Connect group's description.
        live = admin.list_groups(states_filter=LIVE_GROUP_STATES)
        workers = any(g.get("group_id") == f"{source}-mm2" for g in live)
    finally:
        admin.close()
    copied = copied_offsets(settings, source, principal=principal)
    renames = settings.sync.topic_names() or TopicNames({})
    topics = TopicNames.same(SHARED_TOPICS).renamed(renames).actual_names()
    try:
        consumer = make_consumer(
            in_region(settings, source),
            None,
            "casebus-link-status",
            principal=principal,
            request_timeout_ms=5000,
        )
    except KafkaError as exc:
        log.warning("cannot reach %s's cluster: %s", source, exc)
        return LinkStatus(source, target, "source unreachable")
    try:
        parts = [
            TopicPartition(t, p)
            for t in topics
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        ends = consumer.end_offsets(parts) if parts else {}
        starts = consumer.beginning_offsets(parts) if parts else {}
        unread = {
            tp: copied.get((tp.topic, tp.partition), starts[tp])
            for tp in parts
            if ends[tp] > copied.get((tp.topic, tp.partition), starts[tp])
        }
        behind, age = (
            _waiting(consumer, ends, unread, share_header(here.code)) if unread else ({}, 0.0)
        )
    except KafkaError as exc:
        log.warning("cannot read %s's end offsets: %s", source, exc)
        return LinkStatus(source, target, "source unreachable")
    finally:
        consumer.close()
    rows = [(tp.topic, tp.partition, n) for tp, n in behind.items()]
    state = "up" if workers else "mirror not running"
    return LinkStatus(source, target, state, sum(r[2] for r in rows), age, rows)


def link_statuses(settings: Settings, *, principal: str = REPLAY) -> list[LinkStatus]:
    """One per other region: how far this region's copies of it lag (empty: one cluster);
    read as `principal` (status as replay, the mirror's metrics as the mirror)."""
    return [
        link_status(settings, settings.cluster_of(r).alias, principal=principal)
        for r in settings.other_regions
    ]
