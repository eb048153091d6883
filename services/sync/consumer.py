"""The sync consumer loop: poll, decode (here or ahead in the decode worker), checkpoint.

One consumer group per agency, offsets stored in the agency database: each batch is
checkpointed by services/sync/checkpoint.py (rows, event log and offsets in one database
transaction; nothing is ever committed to Kafka), where to resume and when the sync is done
are services/sync/membership.py's. A transient fault (database, registry, broker) rolls
back, seeks to the batch start and retries with backoff: nothing goes to the DLQ for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from sqlalchemy import Engine

from casebus.config import Settings, Subscription
from casebus.gctune import batch_gc
from services.sync.checkpoint import Checkpoint
from services.sync.decode import BatchDecoder, Consumed, TransientFault
from services.sync.dlq import DeadLetters
from services.sync.filtering import admits
from services.sync.membership import GroupWatch, ResumeFromStored
from services.sync.prefetch import Pending, Prefetcher, collect
from services.sync.report import SyncReport
from services.sync.settings import SyncTuning

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
    future: Pending | None = None  # the worker's decoding, if it has one


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
        self.settings, self.consumer, self.decoder = settings, consumer, decoder
        self.report = SyncReport(sub.agency)
        self.tuning = SyncTuning.of(settings)
        self._backoff = Backoff(self.tuning.retry_max_seconds)
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
        # Commit what was read of partitions before giving them up.
        self.resume = ResumeFromStored(consumer, engine, group, self.finish_inflight)
        self.watch = GroupWatch(
            consumer,
            engine,
            group,
            topics,
            stuck_after=self.tuning.stuck_after_seconds,
            rejoin=self._rejoin,
        )
        consumer.subscribe(self._topics, listener=self.resume)

    def run(self, stop: threading.Event, *, until_idle: bool = False) -> SyncReport:
        """Poll, decode, apply and commit batch after batch, until `stop` (or idle).

        With a `prefetch` worker (SyncTuning.decode_ahead), once a poll returns a full
        batch (a backlog), batches are decoded and prepared one ahead by the worker: batch
        N+1 is polled and handed to it before batch N is applied.
        """
        started = time.monotonic()
        batch_size, timeout = self.tuning.batch_size, self.tuning.poll_timeout_ms
        with batch_gc():
            self._loop(stop, until_idle, batch_size, timeout)
        self.finish_inflight()  # stopped: finish the batch in hand
        self.report.seconds = time.monotonic() - started
        self.report.rejoins = self.watch.rejoins
        return self.report

    def _loop(self, stop: threading.Event, until_idle: bool, batch_size: int, timeout: int) -> None:
        while not stop.is_set():
            pending = self.resume.pending
            if pending and not self.resume.seek_pending():
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
            self.watch.after_poll(bool(polled))
            records = [r for tp in sorted(polled) for r in polled[tp] if tp not in pending]
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
        """Checkpoint one batch; on a transient fault rewind to it (and to `also`, the batch
        read after it, then dropped), wait, and return False."""
        try:
            self.checkpoint.commit(self._decoded(batch))
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

    def _rewind(self, records: Sequence[Any]) -> None:
        first: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            first[tp] = min(first.get(tp, r.offset), r.offset)
        for tp, offset in first.items():
            self.consumer.seek(tp, offset)

    def _idle(self) -> bool:
        if self.resume.pending or self._inflight is not None:
            return False
        coverage = self.watch.caught_up()
        if coverage is None:
            return False
        self.report.covered = coverage.describe()
        return True

    def _rejoin(self) -> None:
        self.consumer.unsubscribe()  # leaves the group
        self.consumer.subscribe(self._topics, listener=self.resume)
