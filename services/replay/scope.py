"""What a replay reads: partitions, where to start and stop, and which keys.

`--all`: every partition of the topics, from the beginning (or from the offsets for a time,
Kafka's offsets-for-times) to the end offsets taken when the replay starts. `--case`: only the
partitions a case's key hashes to (the producers' murmur2 partitioner), and of those only
the records with that key, decoded; case links found there add their cases, until no new
case appears.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from casebus.events import ACTION_TOPIC

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Scope:
    starts: dict[TopicPartition, int]
    ends: dict[TopicPartition, int]  # exclusive: the end offsets when the replay started
    cases: frozenset[str] | None = None  # None: every key
    records: Mapping[TopicPartition, Sequence[Any]] = field(default_factory=dict)  # --case

    @property
    def total(self) -> int:
        """Offsets to read (an upper bound on the events: commit markers count too)."""
        return sum(max(0, self.ends[tp] - self.starts[tp]) for tp in self.ends)


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java's and kafka-python's) gives a key."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def topic_partitions(consumer: KafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    consumer.topics()  # fresh metadata
    return [
        TopicPartition(t, p)
        for t in sorted(topics)
        for p in sorted(consumer.partitions_for_topic(t))
    ]


def whole(consumer: KafkaConsumer, topics: Sequence[str], since: datetime | None) -> Scope:
    parts = topic_partitions(consumer, topics)
    ends = consumer.end_offsets(parts)
    if since is None:
        starts = consumer.beginning_offsets(parts)
    else:
        found = consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in parts})
        starts = {tp: (ends[tp] if found.get(tp) is None else found[tp].offset) for tp in parts}
    return Scope(dict(starts), dict(ends))


def case_closure(
    consumer: KafkaConsumer,
    topics: Mapping[str, str],  # topic read -> its shared topic
    case_id: str,
    since: datetime | None,
    links_of: Callable[[Any], list[str]],  # the case ids a case-link record links its key to
    poll_ms: int = 500,
) -> Scope:
    """The records of a case and of every case linked to it, from their partitions only.

    Links are found in the action topic by their `event_type` header (CASE_*), so only those
    values are decoded; either side of a link finds the other."""
    full = whole(consumer, list(topics), since)
    counts: dict[str, int] = {}
    for tp in full.ends:
        counts[tp.topic] = counts.get(tp.topic, 0) + 1
    links: dict[str, set[str]] = {}
    actions = [tp for tp in full.ends if topics[tp.topic] == ACTION_TOPIC]
    for batch in _read(consumer, set(actions), full.starts, full.ends, _is_link, poll_ms).values():
        for r in batch:
            ends = {r.key.decode(), *links_of(r)}
            for c in ends:
                links.setdefault(c, set()).update(ends - {c})
    wanted, frontier = set(), {case_id}
    while frontier:
        wanted |= frontier
        frontier = {c for f in frontier for c in links.get(f, ()) if c not in wanted}
    keys = {c.encode() for c in wanted}
    reads = {TopicPartition(t, partition_for(k, counts[t])) for t in counts for k in keys}
    records = _read(consumer, reads, full.starts, full.ends, lambda r: r.key in keys, poll_ms)
    log.info("case %s and its linked cases: %s", case_id, sorted(wanted))
    return Scope(
        {tp: full.starts[tp] for tp in reads},
        {tp: full.ends[tp] for tp in reads},
        frozenset(wanted),
        {tp: sorted(batch, key=lambda r: r.offset) for tp, batch in records.items()},
    )


def _is_link(record: Any) -> bool:
    kind = dict(record.headers or []).get("event_type")
    return kind is None or kind.startswith(b"CASE_")  # no header: decode to find out


def _read(
    consumer: KafkaConsumer,
    parts: set[TopicPartition],
    starts: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
    keep: Callable[[Any], bool],
    poll_ms: int,
) -> dict[TopicPartition, list[Any]]:
    """The records of these partitions that `keep` keeps (by key or header: values are not
    decoded here)."""
    todo = [tp for tp in sorted(parts) if ends[tp] > starts[tp]]
    out: dict[TopicPartition, list[Any]] = {}
    if not todo:
        return out
    consumer.assign(todo)
    consumer.resume(*todo)  # paused at the end of an earlier round
    for tp in todo:
        consumer.seek(tp, starts[tp])
    while todo:
        for tp, batch in consumer.poll(timeout_ms=poll_ms).items():
            kept = [r for r in batch if r.offset < ends[tp] and keep(r)]
            if kept:
                out.setdefault(tp, []).extend(kept)
        done = [tp for tp in todo if consumer.position(tp) >= ends[tp]]
        if done:
            consumer.pause(*done)  # read on only where the end is not reached
            todo = [tp for tp in todo if tp not in done]
    return out
