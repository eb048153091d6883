"""What a replay reads: partitions, where to start and stop, and which keys.

`--all`: every partition of the topics, from the beginning (or from the offsets for a time,
Kafka's offsets-for-times) to the end offsets taken when the replay starts. `--case`: only the
partitions a case's key hashes to (the producers' murmur2 partitioner), and of those only
the records with that key, decoded; case links found there add their cases, until no new
case appears. Reading a record at all is what that costs (kafka-python parses every header
of every record: about 36 µs a record, the key's check nothing beside it), so a large read
is cut into slices of every partition's offsets, read by forked processes at once, each with
a consumer of its own (`SlicedReader`). Every read replaces a client that stops fetching
before its end (pipeline/reading.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from casebus.config import Settings
from casebus.kafka.clients import make_consumer
from casebus.security.principals import REPLAY
from casebus.topics import ACTION_TOPIC, TopicNames
from casebus.workers import ForkedPool, can_fork
from pipeline.reading import Reader
from pipeline.settings import SyncTuning
from pipeline.sources import Scope

log = logging.getLogger(__name__)

# (topic, partition, first offset, end offset): one slice of a partition's offsets.
Slice = tuple[str, int, int, int]
# Below this many offsets one consumer reads them: a reader process's consumer takes a few
# hundred milliseconds to connect and authenticate, what about 10,000 records take to read.
SLICE_FROM = 50_000


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
    reader: Reader,
    topics: TopicNames,
    case_id: str,
    since: datetime | None,
    links_of: Callable[[Any], list[str]],  # the case ids a case-link record links its key to
    known_links: Mapping[str, set[str]] | None = None,  # from the agency database (None: lost)
    readers: SlicedReader | None = None,  # large reads in slices, at once (None: one consumer)
) -> Scope:
    """The records of a case and of every case linked to it, from their partitions only.

    Round by round, the partitions the new cases' keys hash to are read; of their records
    only those with a wanted key are kept, and of those only case links (by their
    `event_type` header) are decoded, adding the cases they link to. Links stored in the
    agency database count in both directions, so either side of a link finds the other
    even when the link event is keyed by the other case; without a database, every link
    event of the action topic is found first by its header (only those are decoded)."""
    full = whole(reader.consumer, topics.actual_names(), since)
    counts: dict[str, int] = {}
    for tp in full.ends:
        counts[tp.topic] = counts.get(tp.topic, 0) + 1
    if known_links is None:  # no database to ask: find every link event (by header)
        known_links = _link_events(reader, topics, full, links_of)
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
        size = sum(full.ends[tp] - full.starts[tp] for tp in reads)
        if readers is not None and size >= SLICE_FROM:
            found = readers.read(reads, full.starts, full.ends, keys)
        else:
            found = _read(reader, reads, full.starts, full.ends, keys)
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
    reader: Reader, topics: TopicNames, full: Scope, links_of: Callable[[Any], list[str]]
) -> dict[str, set[str]]:
    links: dict[str, set[str]] = {}
    todo = {tp: full.ends[tp] for tp in full.ends if topics.shared(tp.topic) == ACTION_TOPIC}
    for polled in reader.read(full.starts, todo):
        for batch in polled.values():
            for r in batch:
                if _is_link(r):
                    ends = {r.key.decode(), *links_of(r)}
                    for c in ends:
                        links.setdefault(c, set()).update(ends - {c})
    return links


def _is_link(record: Any) -> bool:
    kind = dict(record.headers or []).get("event_type")
    return kind is None or kind.startswith(b"CASE_")  # no header: decode to find out


def _read(
    reader: Reader,
    parts: set[TopicPartition],
    starts: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
    keys: set[bytes],
) -> dict[TopicPartition, list[Any]]:
    """The records of these partitions from `starts` whose key is one of `keys` (values not
    decoded)."""
    out: dict[TopicPartition, list[Any]] = {}
    for polled in reader.read(starts, {tp: ends[tp] for tp in parts}):
        for tp, batch in polled.items():
            first = starts[tp]  # a fetch starts at a record batch: a slice's starts within one
            kept = [r for r in batch if r.offset >= first and r.key in keys]
            if kept:
                out.setdefault(tp, []).extend(kept)
    return out


def slices(
    parts: Iterable[TopicPartition],
    starts: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
    n: int,
) -> list[list[Slice]]:
    """Every partition's offsets [start, end) cut into `n` contiguous slices of nearly equal
    size, slice i of each partition to reader i (readers with nothing to read left out)."""
    out: list[list[Slice]] = [[] for _ in range(n)]
    for tp in sorted(parts):
        start, end = starts[tp], ends[tp]
        if end <= start:
            continue
        step, extra = divmod(end - start, n)
        for i in range(n):
            stop = start + step + (1 if i < extra else 0)
            if stop > start:
                out[i].append((tp.topic, tp.partition, start, stop))
            start = stop
    return [group for group in out if group]


class SlicedReader:
    """Forked processes reading slices of partitions at once, each with a consumer of its own
    (the replay principal's). Fork it before any client thread exists (casebus.workers)."""

    def __init__(self, settings: Settings, client_id: str, processes: int) -> None:
        self.processes = processes
        self._pool = ForkedPool(processes, _start_reader, (settings, client_id))

    @classmethod
    def for_machine(cls, settings: Settings, client_id: str) -> SlicedReader | None:
        """One reader per core, or None where there is one core or no fork."""
        cores = len(os.sched_getaffinity(0))
        return cls(settings, client_id, cores) if cores > 1 and can_fork() else None

    def read(
        self,
        parts: Iterable[TopicPartition],
        starts: Mapping[TopicPartition, int],
        ends: Mapping[TopicPartition, int],
        keys: set[bytes],
    ) -> dict[TopicPartition, list[Any]]:
        """As `_read`: the records whose key is one of `keys`, per partition, in order."""
        futures = [
            self._pool.submit(_read_slices, group, keys)
            for group in slices(parts, starts, ends, self.processes)
        ]
        out: dict[TopicPartition, list[Any]] = {}
        for future in futures:  # slices in offset order: each partition's records stay so
            for record in future.result():
                out.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
        return out

    def close(self) -> None:
        self._pool.close()


_reader: tuple[Settings, str] | None = None


def _start_reader(settings: Settings, client_id: str) -> None:
    global _reader
    _reader = (settings, client_id)


def _read_slices(group: Sequence[Slice], keys: set[bytes]) -> list[Any]:
    """In a reader process: the kept records of these slices (kafka-python's records)."""
    assert _reader is not None
    settings, client_id = _reader

    def connect() -> KafkaConsumer:
        return make_consumer(settings, None, client_id, principal=REPLAY)

    reader = Reader(
        connect(), reconnect=connect, stalled_after=SyncTuning.of(settings).stuck_after_seconds
    )
    try:
        parts = [TopicPartition(topic, partition) for topic, partition, _, _ in group]
        starts = dict(zip(parts, (first for _, _, first, _ in group), strict=True))
        ends = dict(zip(parts, (end for _, _, _, end in group), strict=True))
        found = _read(reader, set(parts), starts, ends, keys)
    finally:
        reader.close()
    return [record for tp in parts for record in found.get(tp, ())]
