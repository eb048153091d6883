"""The sync's place in its consumer group: where to resume, when it is done, when it is stuck.

- `ResumeFromStored`: on assignment, seek each new partition to the offset stored in the
  agency database (never Kafka's committed offsets: nothing is committed there); while the
  database cannot be read, the partitions stay paused.
- `GroupWatch`: whether every partition the broker has now is read to its end by the stored
  offsets (`--until-idle`), storing positions that moved over transaction markers first;
  and, having fetched nothing for a while: holding no partitions although some have unread
  events, rejoining; holding partitions with unread events, replacing the Kafka client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from agencydb.offsets import claim_offsets, load_offsets, save_offsets
from pipeline.checkpoint import is_transient_db_error
from pipeline.coverage import Coverage, StuckWatch, WedgeCheck, measure

log = logging.getLogger(__name__)


class ResumeFromStored(ConsumerRebalanceListener):
    """Seeks assigned partitions to the stored offsets; `before_revoke` runs first when
    partitions are taken away (the consumer commits what it read of them)."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        engine: Engine,
        group: str,
        before_revoke: Callable[[], None],
    ) -> None:
        self.consumer, self.engine, self.group = consumer, engine, group
        self._before_revoke = before_revoke
        self.pending: set[TopicPartition] = set()  # assigned, not yet sought

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        self._before_revoke()
        self.pending.difference_update(revoked)

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self.pending.update(assigned)
        self.seek_pending()

    def seek_pending(self) -> bool:
        """Seek new partitions to their stored offsets; while the DB is down, pause them."""
        if not self.pending:
            return True
        parts = sorted(self.pending)
        try:
            with self.engine.connect() as conn:
                stored = load_offsets(conn, self.group, [(tp.topic, tp.partition) for tp in parts])
        except DBAPIError as exc:
            if not is_transient_db_error(exc):
                raise
            log.warning("cannot read stored offsets (%s); partitions paused", exc)
            self.consumer.pause(*parts)
            return False
        for tp in parts:
            offset = stored.get((tp.topic, tp.partition))
            if offset is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, offset)
        self.consumer.resume(*parts)
        self.pending.clear()
        log.info("assigned %s; resumed from stored offsets %s", parts, stored)
        return True


class GroupWatch:
    def __init__(
        self,
        consumer: KafkaConsumer,
        engine: Engine,
        group: str,
        topics: Sequence[str],
        *,
        stuck_after: float,
        rejoin: Callable[[], None],
        replace: Callable[[], None],
        held_back: Callable[[], set[TopicPartition]],  # assigned, not yet sought
    ) -> None:
        self.consumer, self.engine, self.group = consumer, engine, group
        self.topics = list(topics)
        self._stuck = StuckWatch(stuck_after)
        self._rejoin, self._replace, self._held_back = rejoin, replace, held_back
        self.rejoins = 0
        self.replacements = 0  # Kafka clients replaced for fetching nothing
        self._wedge = WedgeCheck()

    def caught_up(self) -> Coverage | None:
        """The coverage, if every partition of every subscribed topic, as the broker knows
        them now, is read to its end by the stored offsets (not only those assigned). Call
        only between batches, when nothing read is unapplied."""
        try:
            self._store_positions()
            with self.engine.connect() as conn:
                coverage = measure(self.consumer, conn, self.group, self.topics)
        except KafkaError as exc:
            log.warning("cannot read end offsets: %s", exc)
            return None
        except DBAPIError as exc:
            if not is_transient_db_error(exc):
                raise
            log.warning("cannot read stored offsets: %s", exc)
            return None
        return coverage if coverage.caught_up else None

    def _store_positions(self) -> None:
        """Store positions that moved past the last record of a partition: over the commit
        markers of transactional producers, which no record's offset + 1 reaches."""
        assigned = self.consumer.assignment()
        if not assigned:
            return
        positions = {(tp.topic, tp.partition): self.consumer.position(tp) for tp in assigned}
        with self.engine.begin() as conn:
            stored = claim_offsets(conn, self.group, positions)
            ahead = {
                tp: offset
                for tp, offset in positions.items()
                if offset is not None and offset > stored.get(tp, 0)
            }
            if ahead:
                save_offsets(conn, self.group, ahead)

    def after_poll(self, polled: bool) -> None:
        """Having fetched nothing for a while: if this member holds partitions it has not
        read to their end, replace its client; if it holds none while partitions have
        unread events, say so and rejoin the group (a fresh assignment from the partitions
        the broker has now)."""
        if not self._stuck.due(polled):
            return
        assigned = self.consumer.assignment() - self._held_back()
        if assigned:
            self._check_fetching(sorted(assigned))
        elif not self.consumer.assignment():
            self._check_empty_handed()

    def _check_fetching(self, held: list[TopicPartition]) -> None:
        if self._wedge.wedged(self.consumer, held, self._stuck.after):
            self.replacements += 1
            self._replace()

    def _check_empty_handed(self) -> None:
        try:
            with self.engine.connect() as conn:
                coverage = measure(self.consumer, conn, self.group, self.topics)
        except (KafkaError, DBAPIError) as exc:
            log.warning("holding no partitions; cannot check for unread events: %s", exc)
            return
        lagging = coverage.lagging
        if not lagging:
            return
        log.warning(
            "stuck: holding no partitions for %.0fs while %d partitions have %d unread events "
            "(%s); rejoining the group",
            self._stuck.after,
            len(lagging),
            sum(p.unread for p in lagging),
            Coverage(lagging).describe(),
        )
        self.rejoins += 1
        self._rejoin()
