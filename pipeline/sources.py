"""Where the batch loop's records come from: the two sources of the one pipeline.

- `GroupSource`: an agency's consumer group (live sync). Partitions come and go with the
  group; each assigned partition resumes from the offset stored in the agency database
  (pipeline/membership.py); a rewind seeks back.
- `AssignedSource`: partitions assigned by hand and read from a start to an end offset, or
  records already read (a case's, or a redrive's DLQ records): replay and redrive. No
  group, so no live sync is disturbed; a rewind hands the records back, to be read again
  first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from sqlalchemy import Engine

from casebus.ids import ConsumedRecord
from casebus.retry import RetryAfter
from pipeline.membership import GroupWatch, ResumeFromStored
from pipeline.reading import CLOSE_TIMEOUT_MS, Reader

log = logging.getLogger(__name__)


class GroupSource:
    """The topics of a consumer group, resumed from the offsets stored in the database."""

    def __init__(
        self,
        connect: Callable[[], KafkaConsumer],  # a new client, to start with and to replace one
        engine: Engine,
        group: str,
        topics: Sequence[str],
        *,
        batch_size: int,
        poll_timeout_ms: int,
        stuck_after: float,
    ) -> None:
        self._connect, self.consumer, self._topics = connect, connect(), list(topics)
        self._batch_size, self._timeout = batch_size, poll_timeout_ms
        self.backlog = False  # from the first full batch on: history to catch up with
        self.covered = ""  # once caught up: the partitions found read to their end
        # Called before partitions are taken away: commit what was read of them.
        self.before_revoke: Callable[[], None] = _nothing
        self.resume = ResumeFromStored(self.consumer, engine, group, lambda: self.before_revoke())
        self.watch = GroupWatch(
            self.consumer,
            engine,
            group,
            topics,
            stuck_after=stuck_after,
            rejoin=self._rejoin,
            replace=self._replace,
            held_back=lambda: self.resume.pending,
        )
        self.consumer.subscribe(self._topics, listener=self.resume)

    def poll(self, stop: threading.Event) -> list[ConsumedRecord]:
        pending = self.resume.pending
        if pending and not self.resume.seek_pending():
            raise RetryAfter("stored offsets cannot be read; partitions paused")
        try:
            polled = self.consumer.poll(timeout_ms=self._timeout, max_records=self._batch_size)
        except KafkaError as exc:
            # Broker restarting or unreachable: nothing was consumed, nothing to rewind; the
            # client reconnects on the next poll.
            raise RetryAfter(f"broker unavailable: {exc}") from exc
        consumer = self.consumer
        self.watch.after_poll(bool(polled))
        if self.consumer is not consumer:
            return []  # replaced: what the old client fetched is read again from the stored offsets
        records = [r for tp in sorted(polled) for r in polled[tp] if tp not in pending]
        self.backlog = self.backlog or len(records) >= self._batch_size
        return records

    def rewind(self, records: Sequence[ConsumedRecord]) -> None:
        first: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            first[tp] = min(first.get(tp, r.offset), r.offset)
        for tp, offset in first.items():
            self.consumer.seek(tp, offset)

    def caught_up(self) -> bool:
        """Every partition of every subscribed topic, as the broker knows them now, is read
        to its end by the stored offsets (not only those assigned here)."""
        if self.resume.pending:
            return False
        coverage = self.watch.caught_up()
        if coverage is None:
            return False
        self.covered = coverage.describe()
        return True

    def close(self) -> None:
        self.consumer.close(autocommit=False)

    def _rejoin(self) -> None:
        self.consumer.unsubscribe()  # leaves the group
        self.consumer.subscribe(self._topics, listener=self.resume)

    def _replace(self) -> None:
        """A new client in place of one that stopped fetching. The batch in hand is
        committed first (its records came from the old client); the new client joins the
        group as a new member and resumes from the stored offsets, like a restarted sync."""
        self.before_revoke()
        old, self.consumer = self.consumer, self._connect()
        self.resume.consumer = self.watch.consumer = self.consumer
        self.resume.pending.clear()
        try:
            old.close(autocommit=False, timeout_ms=CLOSE_TIMEOUT_MS)
        except Exception as exc:  # a wedged client must not stop its replacement
            log.warning("closing the replaced Kafka client: %s", exc)
        self.consumer.subscribe(self._topics, listener=self.resume)


def _nothing() -> None:
    pass


@dataclass(frozen=True, slots=True)
class Scope:
    """What an assigned source reads: partitions from `starts` to `ends` (exclusive), of
    `cases` only (None: every key), or exactly `records` when they were read already."""

    starts: dict[TopicPartition, int]
    ends: dict[TopicPartition, int]
    cases: frozenset[str] | None = None
    records: Mapping[TopicPartition, Sequence[ConsumedRecord]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Offsets to read (an upper bound on the events: commit markers count too)."""
        return sum(max(0, self.ends[tp] - self.starts[tp]) for tp in self.ends)


class AssignedSource:
    """A scope's records in batches of at most `batch_size` (per partition in offset
    order); None once all are read. The reader replaces a client that stalls
    (pipeline/reading.py)."""

    backlog = True  # everything it reads is history: the decode worker from the start

    def __init__(self, reader: Reader | None, scope: Scope, batch_size: int) -> None:
        # None: `scope.records` were read already (a redrive's DLQ records).
        self.reader, self.scope, self._size = reader, scope, batch_size
        self._again: list[ConsumedRecord] = []  # handed back by a rewind: read again first
        self._batches = self._read()
        self._done = False

    def poll(self, stop: threading.Event) -> list[ConsumedRecord] | None:
        if self._again:
            batch, self._again = self._again[: self._size], self._again[self._size :]
            return batch
        for batch in self._batches:
            return batch
        self._done = True
        return None

    def rewind(self, records: Sequence[ConsumedRecord]) -> None:
        self._again[:0] = records

    def caught_up(self) -> bool:
        return self._done and not self._again

    def position(self) -> int:
        """Offsets read so far over the scope's partitions (records read already: 0)."""
        if self.scope.records:
            return 0
        assert self.reader is not None
        read = 0
        for tp in self.scope.ends:
            at = self.reader.position(tp, self.scope.starts[tp])
            read += min(at, self.scope.ends[tp]) - self.scope.starts[tp]
        return read

    def _read(self) -> Iterator[list[ConsumedRecord]]:
        scope, size = self.scope, self._size
        if scope.records or scope.cases is not None:  # a case: read already, by key
            flat = [r for tp in sorted(scope.records) for r in scope.records[tp]]
            for start in range(0, len(flat), size):
                yield flat[start : start + size]
            return
        assert self.reader is not None
        for polled in self.reader.read(scope.starts, scope.ends, max_records=size):
            yield [r for tp in sorted(polled) for r in polled[tp]]
