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
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from casebus.topics import ACTION_TOPIC, TopicNames
from pipeline.sources import Scope

log = logging.getLogger(__name__)


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
    topics: TopicNames,
    case_id: str,
    since: datetime | None,
    links_of: Callable[[Any], list[str]],  # the case ids a case-link record links its key to
    known_links: Mapping[str, set[str]] | None = None,  # from the agency database (None: lost)
    poll_ms: int = 500,
) -> Scope:
    """The records of a case and of every case linked to it, from their partitions only.

    Round by round, the partitions the new cases' keys hash to are read; of their records
    only those with a wanted key are kept, and of those only case links (by their
    `event_type` header) are decoded, adding the cases they link to. Links stored in the
    agency database count in both directions, so either side of a link finds the other
    even when the link event is keyed by the other case; without a database, every link
    event of the action topic is found first by its header (only those are decoded)."""
    full = whole(consumer, topics.actual_names(), since)
    counts: dict[str, int] = {}
    for tp in full.ends:
        counts[tp.topic] = counts.get(tp.topic, 0) + 1
    if known_links is None:  # no database to ask: find every link event (by header)
        known_links = _link_events(consumer, topics, full, links_of, poll_ms)
    links = {c: set(v) for c, v in known_links.items()}
    wanted: set[str] = set()
    frontier = {case_id}
    records: dict[TopicPartition, list[Any]] = {}
    read: set[TopicPartition] = set()
    while frontier:
        wanted |= frontier
        keys = {c.encode() for c in frontier}
        reads = {TopicPartition(t, partition_for(k, counts[t])) for t in counts for k in keys}
        read |= reads
        found = _read(consumer, reads, full.starts, full.ends, keys, poll_ms)
        linked: set[str] = {c for f in frontier for c in links.get(f, ())}
        for tp, batch in found.items():
            records.setdefault(tp, []).extend(batch)
            if topics.shared(tp.topic) == ACTION_TOPIC:
                linked.update(c for r in batch if _is_link(r) for c in links_of(r))
        frontier = linked - wanted
    log.info("case %s and its linked cases: %s", case_id, sorted(wanted))
    return Scope(
        {tp: full.starts[tp] for tp in read},
        {tp: full.ends[tp] for tp in read},
        frozenset(wanted),
        {tp: sorted(batch, key=lambda r: r.offset) for tp, batch in records.items()},
    )


def _link_events(
    consumer: KafkaConsumer,
    topics: TopicNames,
    full: Scope,
    links_of: Callable[[Any], list[str]],
    poll_ms: int,
) -> dict[str, set[str]]:
    links: dict[str, set[str]] = {}
    todo = [tp for tp in sorted(full.ends) if topics.shared(tp.topic) == ACTION_TOPIC]
    todo = [tp for tp in todo if full.ends[tp] > full.starts[tp]]
    if not todo:
        return links
    consumer.assign(todo)
    consumer.resume(*todo)
    for tp in todo:
        consumer.seek(tp, full.starts[tp])
    while todo:
        for tp, batch in consumer.poll(timeout_ms=poll_ms).items():
            for r in batch:
                if r.offset < full.ends[tp] and _is_link(r):
                    ends = {r.key.decode(), *links_of(r)}
                    for c in ends:
                        links.setdefault(c, set()).update(ends - {c})
        done = [tp for tp in todo if consumer.position(tp) >= full.ends[tp]]
        if done:
            consumer.pause(*done)
            todo = [tp for tp in todo if tp not in done]
    return links


def _is_link(record: Any) -> bool:
    kind = dict(record.headers or []).get("event_type")
    return kind is None or kind.startswith(b"CASE_")  # no header: decode to find out


def _read(
    consumer: KafkaConsumer,
    parts: set[TopicPartition],
    starts: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
    keys: set[bytes],
    poll_ms: int,
) -> dict[TopicPartition, list[Any]]:
    """The records of these partitions whose key is one of `keys` (values not decoded)."""
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
            kept = [r for r in batch if r.offset < ends[tp] and r.key in keys]
            if kept:
                out.setdefault(tp, []).extend(kept)
        done = [tp for tp in todo if consumer.position(tp) >= ends[tp]]
        if done:
            consumer.pause(*done)  # read on only where the end is not reached
            todo = [tp for tp in todo if tp not in done]
    return out
