"""The sync consumer: one consumer group per agency, offsets stored in the agency database.

Each batch is checkpointed by services/sync/checkpoint.py (rows, event log and offsets in one
database transaction; nothing is ever committed to Kafka). On assignment the consumer seeks
to the offsets stored in the database. A transient fault (database, registry, broker) rolls
back, seeks to the batch start and retries with backoff: nothing goes to the DLQ for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from casebus.config import Settings, Subscription
from casebus.gctune import batch_gc
from services.sync.checkpoint import Checkpoint, is_transient_db_error
from services.sync.coverage import Coverage, StuckWatch, measure
from services.sync.decode import BatchDecoder, Consumed, TransientFault
from services.sync.dlq import DeadLetters
from services.sync.filtering import admits
from services.sync.offsets import claim_offsets, load_offsets, save_offsets
from services.sync.prefetch import Prefetcher, Work, collect
from services.sync.report import SyncReport

log = logging.getLogger(__name__)


class Backoff:
    def __init__(self, cap: float, first: float = 0.25) -> None:
        self._first, self._cap, self._next = first, cap, first

    def wait(self, stop: threading.Event) -> None:
        stop.wait(self._next)
        self._next = min(self._next * 2, self._cap)

    def reset(self) -> None:
        self._next = self._first


@dataclass(slots=True)
class _Batch:
    records: Sequence[Any]
    future: Future[Work] | None = None  # the worker's decoding, if it has one


class _SeekToStored(ConsumerRebalanceListener):
    def __init__(self, runner: SyncConsumer) -> None:
        self._runner = runner

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        self._runner.finish_inflight()  # commit what was read before giving partitions up
        self._runner.pending_seek.difference_update(revoked)

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self._runner.pending_seek.update(assigned)
        self._runner.seek_pending()


class SyncConsumer:
    def __init__(
        self,
        settings: Settings,
        sub: Subscription,
        *,
        engine: Engine,
        consumer: KafkaConsumer,
        decoder: BatchDecoder,
        dead_letters: DeadLetters,
        group: str,
        topics: Sequence[str],
        prefetch: Prefetcher | None = None,
    ) -> None:
        self.settings, self.sub, self.engine, self.consumer = settings, sub, engine, consumer
        self.decoder, self.dead_letters, self.group = decoder, dead_letters, group
        self.pending_seek: set[TopicPartition] = set()
        self.report = SyncReport(sub.agency)
        self._backoff = Backoff(settings.sync.retry_max_seconds)
        self.checkpoint = Checkpoint(
            engine,
            decoder,
            admit=lambda event, kind: admits(sub, event, kind),
            dead_letters=dead_letters,
            report=self.report,
            group=group,
        )
        self._prefetch = prefetch  # used from the first full batch (a backlog) on
        self._backlog = False
        self._inflight: _Batch | None = None  # polled, being decoded by the worker
        self._topics = list(topics)
        self._stuck = StuckWatch(settings.sync.stuck_after_seconds)
        consumer.subscribe(self._topics, listener=_SeekToStored(self))

    def seek_pending(self) -> bool:
        """Seek new partitions to their stored offsets; while the DB is down, pause them."""
        if not self.pending_seek:
            return True
        parts = sorted(self.pending_seek)
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
        self.pending_seek.clear()
        log.info("assigned %s; resumed from stored offsets %s", parts, stored)
        return True

    def run(self, stop: threading.Event, *, until_idle: bool = False) -> SyncReport:
        """Poll, decode, apply and commit batch after batch, until `stop` (or idle).

        With a `prefetch` worker (settings.sync.decode_ahead), once a poll returns a full
        batch (a backlog), batches are decoded and prepared one ahead by the worker: batch
        N+1 is polled and handed to it before batch N is applied.
        """
        started = time.monotonic()
        batch_size, timeout = self.settings.sync.batch_size, self.settings.sync.poll_timeout_ms
        with batch_gc():
            self._loop(stop, until_idle, batch_size, timeout)
        self.finish_inflight()  # stopped: finish the batch in hand
        self.report.seconds = time.monotonic() - started
        return self.report

    def _loop(self, stop: threading.Event, until_idle: bool, batch_size: int, timeout: int) -> None:
        while not stop.is_set():
            if self.pending_seek and not self.seek_pending():
                self._pause(stop)
            polling = time.perf_counter()
            try:
                polled = self.consumer.poll(timeout_ms=timeout, max_records=batch_size)
            except KafkaError as exc:
                # Broker restarting or unreachable: nothing was consumed, nothing to
                # rewind; the client reconnects on the next poll.
                log.warning("broker unavailable, retrying: %s", exc)
                self._pause(stop)
                continue
            self.report.stages["poll"] += time.perf_counter() - polling
            if self._stuck.due(bool(polled) or bool(self.consumer.assignment())):
                self._rejoin_if_stuck()
            records = [
                r for tp in sorted(polled) for r in polled[tp] if tp not in self.pending_seek
            ]
            self._backlog = self._backlog or len(records) >= batch_size
            batch = None
            if records:
                worker = self._prefetch if self._backlog else None
                ahead = worker.submit(records) if worker is not None else None
                batch = _Batch(records, ahead)
            previous, self._inflight = self._inflight, None
            if previous is None or self._apply(previous, stop, also=batch):
                if batch is not None and batch.future is None:
                    self._apply(batch, stop)  # no worker: decode and apply it now
                else:
                    self._inflight = batch  # applied next round, once decoded
            if not records and until_idle and self._idle():
                break

    def finish_inflight(self) -> None:
        """Apply and commit the batch being decoded ahead, if any (on stop or revocation:
        if it cannot be committed now it is dropped, and read again from stored offsets)."""
        batch, self._inflight = self._inflight, None
        if batch is not None:
            self._apply(batch, None)

    def _apply(
        self, batch: _Batch, stop: threading.Event | None, also: _Batch | None = None
    ) -> bool:
        """Process one batch; on a transient fault rewind to it (and to `also`, the batch
        read after it, then dropped), wait, and return False."""
        try:
            self._process(batch)
            self._backoff.reset()
            return True
        except TransientFault as exc:
            if stop is None:
                log.warning("transient fault, batch dropped (read again later): %s", exc)
                return False
            self._rewind([*batch.records, *(also.records if also else ())])
            log.warning("transient fault, batch will be retried: %s", exc)
            self._pause(stop)
            return False

    def _pause(self, stop: threading.Event) -> None:
        self.report.retries += 1
        self._backoff.wait(stop)

    def _decoded(self, batch: _Batch) -> list[Consumed]:
        if batch.future is not None:
            try:
                return collect(batch.records, batch.future, self.report)
            except BrokenProcessPool as exc:  # the worker died: carry on without it
                log.error("decode worker lost (%s); decoding in this process", exc)
                if self._prefetch is not None:
                    self._prefetch.close()
                    self._prefetch = None
        started = time.perf_counter()
        consumed = self.decoder.decode(batch.records)
        self.report.stages["decode"] += time.perf_counter() - started
        return consumed

    def _process(self, batch: _Batch) -> None:
        self.checkpoint.commit(self._decoded(batch))

    def _rewind(self, records: Sequence[Any]) -> None:
        first: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            first[tp] = min(first.get(tp, r.offset), r.offset)
        for tp, offset in first.items():
            self.consumer.seek(tp, offset)

    def _idle(self) -> bool:
        """Caught up: every partition of every subscribed topic, as the broker knows them
        now, read to its end by this agency's stored offsets (not only those assigned)."""
        if self.pending_seek or self._inflight is not None:
            return False
        try:
            self._store_positions()
            with self.engine.connect() as conn:
                coverage = measure(self.consumer, conn, self.group, self._topics)
        except KafkaError as exc:
            log.warning("cannot read end offsets: %s", exc)
            return False
        except DBAPIError as exc:
            if not is_transient_db_error(exc):
                raise
            log.warning("cannot read stored offsets: %s", exc)
            return False
        if coverage.caught_up:
            self.report.covered = coverage.describe()
            return True
        return False

    def _store_positions(self) -> None:
        """Store positions that moved past the last record of a partition: over the commit
        markers of transactional producers, which no record's offset + 1 reaches. Called only
        between batches, when nothing read is unapplied."""
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

    def _rejoin_if_stuck(self) -> None:
        """Holding no partitions for a while: if partitions have unread events, say so and
        rejoin the group (a fresh assignment from the partitions the broker has now)."""
        try:
            with self.engine.connect() as conn:
                coverage: Coverage = measure(self.consumer, conn, self.group, self._topics)
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
        self.report.rejoins += 1
        self.consumer.unsubscribe()  # leaves the group
        self.consumer.subscribe(self._topics, listener=_SeekToStored(self))
