"""How far this agency's stored offsets cover every partition the broker has now.

The group's assignment says what one member was handed, which may be stale or empty; the
broker says what exists. `--until-idle` and the stuck watch ask the broker (fresh metadata,
end offsets) and the agency database (stored offsets), so that partitions added or topics
created since the member joined are never reported as read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from sqlalchemy import Connection

from agencydb.offsets import load_offsets

log = logging.getLogger(__name__)

# A stalled client's check must not hold the loop for kafka-python's 30 s request timeout.
END_OFFSETS_TIMEOUT_MS = 10_000


@dataclass(frozen=True, slots=True)
class PartitionCoverage:
    topic: str
    partition: int
    start: int  # the broker's first offset (where a partition without a stored offset begins)
    end: int  # the broker's end offset when asked
    stored: int | None  # next offset stored in the agency database

    @property
    def unread(self) -> int:
        return max(0, self.end - (self.start if self.stored is None else self.stored))


@dataclass(frozen=True, slots=True)
class Coverage:
    partitions: tuple[PartitionCoverage, ...]

    @property
    def lagging(self) -> tuple[PartitionCoverage, ...]:
        return tuple(p for p in self.partitions if p.unread)

    @property
    def caught_up(self) -> bool:
        return not self.lagging

    def describe(self) -> str:
        """`topic[0-5]` per topic: the partitions this covers."""
        spans = []
        for topic, parts in groupby(self.partitions, key=lambda p: p.topic):
            numbers = [p.partition for p in parts]
            spans.append(f"{topic}[{_ranges(numbers)}]")
        return ", ".join(spans) or "no partitions"


def _ranges(numbers: Sequence[int]) -> str:
    out: list[str] = []
    for n in sorted(numbers):
        if out and out[-1].split("-")[-1] == str(n - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ",".join(out)


def subscribed_partitions(consumer: KafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    """Every partition of `topics` as the broker knows them now (one metadata request)."""
    consumer.topics()  # refreshes the metadata of every topic, not just the cached view
    return [
        TopicPartition(topic, p)
        for topic in sorted(topics)
        for p in sorted(consumer.partitions_for_topic(topic) or ())
    ]


def unreadable_topics(
    consumer: KafkaConsumer, topics: Sequence[str], attempts: int = 8
) -> list[str]:
    """Those of `topics` that do not exist or that the consumer's principal may not read:
    the broker leaves both out of its metadata answer (one request). Asked again, up to
    `attempts` times over about half a minute, when the node asked goes away meanwhile: a
    sync that starts while one node of a replicated cluster is down must not fail for it."""
    for attempt in range(attempts):
        try:
            visible = consumer.topics()
        except KafkaError as exc:
            if attempt + 1 == attempts:
                raise
            log.warning("topic metadata: %s; asking again", exc)
            time.sleep(min(0.5 * 2**attempt, 8.0))
            continue
        return [t for t in topics if t not in visible]
    raise AssertionError("unreachable")


def measure(
    consumer: KafkaConsumer, conn: Connection, group: str, topics: Sequence[str]
) -> Coverage:
    parts = subscribed_partitions(consumer, topics)
    if not parts:
        return Coverage(())
    ends = consumer.end_offsets(parts)
    stored = load_offsets(conn, group, [(tp.topic, tp.partition) for tp in parts])
    unstored = [tp for tp in parts if (tp.topic, tp.partition) not in stored]
    starts = consumer.beginning_offsets(unstored) if unstored else {}
    return Coverage(
        tuple(
            PartitionCoverage(
                tp.topic,
                tp.partition,
                starts.get(tp, 0),
                ends[tp],
                stored.get((tp.topic, tp.partition)),
            )
            for tp in parts
        )
    )


def unfetched(
    positions: Mapping[TopicPartition, int | None], ends: Mapping[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """Records between a held partition's fetch position and its end (read_committed: the
    last stable offset), for those with any; a partition without a position counts none."""
    return {
        tp: ends[tp] - position
        for tp, position in positions.items()
        if position is not None and tp in ends and ends[tp] > position
    }


class StuckWatch:
    """Notices a member that has fetched nothing for `after` seconds on end.

    Then the caller asks the broker. Holding no partitions while some have unread events (an
    assignment computed before partitions existed, a leader that handed everything
    elsewhere): it warns and rejoins. Holding partitions it has not read to their end: the
    Kafka client stopped fetching (measured under node kills: kafka-python 3.0.12 can keep
    a stale leader with no node left to refresh metadata from), and is replaced.
    """

    def __init__(self, after: float) -> None:
        self.after = after
        self._quiet_since: float | None = None

    def due(self, fetched: bool, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if fetched:
            self._quiet_since = None
            return False
        if self._quiet_since is None:
            self._quiet_since = now
        if now - self._quiet_since < self.after:
            return False
        self._quiet_since = now  # the next check comes `after` seconds later
        return True


class WedgeCheck:
    """Whether a client holding partitions, quiet for a while (`StuckWatch`), has stopped
    fetching: records unread before their end, or the broker's end offsets unreadable twice
    in a row. Then it must be replaced (written once: the sync's members and the feeds)."""

    def __init__(self) -> None:
        self._unanswered = 0  # checks in a row the broker's end offsets could not be read

    def wedged(self, consumer: KafkaConsumer, held: Sequence[TopicPartition], quiet: float) -> bool:
        try:
            ends = consumer.end_offsets(list(held), timeout_ms=END_OFFSETS_TIMEOUT_MS)
            behind = unfetched({tp: consumer.position(tp) for tp in held}, ends)
        except KafkaError as exc:
            # Once may be a node going away; twice in a row, the client is not recovering.
            self._unanswered += 1
            log.warning(
                "holding %d partitions, nothing fetched for %.0fs, end offsets unreadable (%s)%s",
                len(held),
                quiet,
                exc,
                "; replacing the Kafka client" if self._unanswered > 1 else "",
            )
            if self._unanswered < 2:
                return False
        else:
            self._unanswered = 0
            if not behind:
                return False  # read to the end: idle, not stalled
            log.warning(
                "stalled: holding %d partitions with %d unread records (%s), nothing fetched "
                "for %.0fs; replacing the Kafka client",
                len(behind),
                sum(behind.values()),
                ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(behind)),
                quiet,
            )
        self._unanswered = 0
        return True
