"""Reading assigned partitions from start to end offsets, written once for every reader of
history: replay's batches (pipeline/sources.py `AssignedSource`), a case's scope and its
slice readers (services/replay/scope.py).

A kafka-python client can wedge after the cluster changes under it (a node killed, a
leader moved: see pipeline/membership.py) and then fetches nothing, for good. A reader that
has fetched nothing for `stalled_after` seconds while partitions are unread to their end
closes its client and reads on with a new one from the old one's positions (its own
bookkeeping: no request), so an admin's rebuild at night does not wait forever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kafka import KafkaConsumer, TopicPartition

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_MS = 5_000  # leaving the group from a client that may not be answered

Records = dict[TopicPartition, list[Any]]  # kafka-python's records, per partition


class Reader:
    """One client (replaced if it stalls) reading assigned partitions to their ends."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        *,
        # A new client for one that fetches nothing for `stalled_after` seconds while
        # partitions are unread to their end (None: wait on the one there is).
        reconnect: Callable[[], KafkaConsumer] | None = None,
        stalled_after: float = 30.0,
        poll_ms: int = 500,
    ) -> None:
        self.consumer = consumer
        self._reconnect, self._stalled_after, self._poll_ms = reconnect, stalled_after, poll_ms
        self.replacements = 0  # clients replaced for fetching nothing
        # Partitions read to their end, and where: a client that replaced a stalled one is
        # given only the partitions still unread, so it cannot tell where these ended.
        self._ended: dict[TopicPartition, int] = {}

    def read(
        self,
        starts: Mapping[TopicPartition, int],
        ends: Mapping[TopicPartition, int],
        max_records: int | None = None,
    ) -> Iterator[Records]:
        """Poll after poll, the records before their partition's end (a poll with none is
        not yielded), until every partition is read to its end, where it is left paused.
        A fetch starts at a record batch's first offset: records before `starts` may come."""
        todo = [tp for tp in sorted(ends) if ends[tp] > starts.get(tp, ends[tp])]
        if not todo:
            return
        consumer = self.consumer
        for tp in todo:
            self._ended.pop(tp, None)
        consumer.assign(todo)
        consumer.resume(*todo)  # paused at the end of an earlier read
        for tp in todo:
            consumer.seek(tp, starts[tp])
        fetched_at = time.monotonic()
        while todo:
            polled = consumer.poll(timeout_ms=self._poll_ms, max_records=max_records)
            done = [tp for tp in todo if consumer.position(tp) >= ends[tp]]
            if done:
                consumer.pause(*done)
                todo = [tp for tp in todo if tp not in done]
                self._ended.update((tp, consumer.position(tp)) for tp in done)
            if polled or done:
                fetched_at = time.monotonic()
            elif self._stalled(fetched_at):
                consumer = self._replace(consumer, todo)
                fetched_at = time.monotonic()
            kept: Records = {}
            for tp, batch in polled.items():
                if below := [r for r in batch if r.offset < ends[tp]]:
                    kept[tp] = below
            if kept:
                yield kept

    def position(self, tp: TopicPartition, default: int) -> int:
        """Where `tp` is read next: its end if it was read to it, else the client's position,
        or `default` if it is not assigned (replay's progress is counted from these)."""
        if (ended := self._ended.get(tp)) is not None:
            return ended
        consumer = self.consumer
        return consumer.position(tp) if tp in consumer.assignment() else default

    def close(self) -> None:
        self.consumer.close()

    def _stalled(self, fetched_at: float) -> bool:
        return self._reconnect is not None and time.monotonic() - fetched_at > self._stalled_after

    def _replace(self, old: KafkaConsumer, todo: list[TopicPartition]) -> KafkaConsumer:
        """A new client reading `todo` on from where the old one's records ended."""
        assert self._reconnect is not None
        positions = {tp: old.position(tp) for tp in todo}
        log.warning(
            "stalled: %d partitions unread to their end (%s), nothing fetched for %.0fs; "
            "replacing the Kafka client",
            len(todo),
            ", ".join(f"{tp.topic}[{tp.partition}] at {positions[tp]}" for tp in todo),
            self._stalled_after,
        )
        try:
            old.close(autocommit=False, timeout_ms=CLOSE_TIMEOUT_MS)
        except Exception as exc:  # a wedged client must not stop its replacement
            log.warning("closing the replaced Kafka client: %s", exc)
        self.consumer = consumer = self._reconnect()
        consumer.assign(todo)
        for tp in todo:
            consumer.seek(tp, positions[tp])
        self.replacements += 1
        return consumer
