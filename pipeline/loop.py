"""The batch loop, written once: sync, replay and redrive run it over their own source.

    poll batch N+1 ─► hand it to the decode worker ─► commit batch N ─► ...

Each batch is committed by the checkpoint (pipeline/checkpoint.py: rows, event log and
offsets in one database transaction, the DLQ acknowledged before it). With a decode worker,
once the source is reading history (a backlog), batches are decoded, prepared and validated
one ahead in the worker: batch N+1 is handed over before batch N is committed. Under light
load a batch is committed as soon as it is polled: nothing waits for a full batch.

`RetryAfter` from any stage (the database, the registry, the broker, a DLQ that does not
acknowledge) rewinds the source to the batches in hand, waits with backoff and goes on:
nothing goes to a DLQ for it, nothing is skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Protocol

from casebus import stall
from casebus.gctune import MallocTrim, batch_gc
from casebus.ids import ConsumedRecord
from casebus.retry import Backoff, RetryAfter
from pipeline.checkpoint import Checkpoint
from pipeline.decode_worker import DecodeWorker, Pending, collect
from pipeline.inbound import Consumed, Inbound
from pipeline.report import Stage

log = logging.getLogger(__name__)


class Source(Protocol):
    @property
    def backlog(self) -> bool:
        """Whether it is reading history (the decode worker then works one batch ahead)."""
        ...

    def poll(self, stop: threading.Event) -> Sequence[ConsumedRecord] | None:
        """The next records ([]: none now; None: the source is read to its end)."""
        ...

    def rewind(self, records: Sequence[ConsumedRecord]) -> None:
        """Read these records (and what followed them) again."""
        ...

    def caught_up(self) -> bool:
        """Nothing is left to read now (asked only between batches)."""
        ...


@dataclass(slots=True)
class _Batch:
    records: Sequence[ConsumedRecord]
    pending: Pending | None = None  # the worker's decoding, if it has one


class BatchLoop:
    def __init__(
        self,
        source: Source,
        *,
        checkpoint: Checkpoint,
        inbound: Inbound,
        worker: DecodeWorker | None,
        backoff: Backoff,
        on_commit: Callable[[int], None] | None = None,  # events committed in a batch
    ) -> None:
        self.source, self.checkpoint, self.inbound = source, checkpoint, inbound
        self.report = checkpoint.report
        self._worker, self._backoff, self._on_commit = worker, backoff, on_commit
        self._inflight: _Batch | None = None  # polled, being decoded by the worker
        self._trim = MallocTrim()

    def run(self, stop: threading.Event, *, until_idle: bool = False) -> None:
        """Batch after batch until `stop`, the source's end, or (until_idle) caught up."""
        try:
            with batch_gc():
                self._loop(stop, until_idle)
            self.finish_inflight()  # stopped: finish the batch in hand
        finally:
            stall.disarm()

    def _loop(self, stop: threading.Event, until_idle: bool) -> None:
        while not stop.is_set():
            stall.arm()  # a loop stuck in some call says where
            polling = time.perf_counter()
            try:
                records = self.source.poll(stop)
            except RetryAfter as exc:
                log.warning("transient fault, retrying: %s", exc)
                self._pause(stop, exc)
                continue
            self.report.stages[Stage.POLL] += time.perf_counter() - polling
            if records is None and self._inflight is None:
                return  # read to its end, all committed
            batch = self._hand_over(records) if records else None
            previous, self._inflight = self._inflight, None
            if previous is None or self._commit(previous, stop, also=batch):
                if batch is not None and batch.pending is None:
                    self._commit(batch, stop)  # no worker: decode and commit it now
                else:
                    self._inflight = batch  # committed next round, once decoded
            idle = not records and self._inflight is None
            if idle and until_idle and self.source.caught_up():
                return

    def finish_inflight(self) -> None:
        """Commit the batch being decoded ahead, if any (on stop or revocation: if it cannot
        be committed now it is dropped, and read again from the stored offsets)."""
        batch, self._inflight = self._inflight, None
        if batch is not None:
            self._commit(batch, None)

    def _hand_over(self, records: Sequence[ConsumedRecord]) -> _Batch:
        worker = self._worker if self.source.backlog else None
        return _Batch(records, worker.submit(records) if worker is not None else None)

    def _commit(
        self, batch: _Batch, stop: threading.Event | None, also: _Batch | None = None
    ) -> bool:
        """Commit one batch; on RetryAfter rewind to it (and to `also`, the batch read
        after it, then dropped), wait, and return False."""
        try:
            consumed = self._decoded(batch)
            self.checkpoint.commit(consumed)
        except RetryAfter as exc:
            if stop is None:
                log.warning("transient fault, batch dropped (read again later): %s", exc)
                return False
            self.source.rewind([*batch.records, *(also.records if also else ())])
            log.warning("transient fault, the batch will be retried: %s", exc)
            self._pause(stop, exc)
            return False
        self._backoff.reset()
        self._trim.tick()
        if self._on_commit is not None:
            self._on_commit(len(consumed))
        return True

    def _pause(self, stop: threading.Event, exc: RetryAfter) -> None:
        self.report.retries += 1
        self._backoff.wait(stop, exc.retry_after)

    def _decoded(self, batch: _Batch) -> list[Consumed]:
        if batch.pending is not None:
            try:
                return collect(batch.records, batch.pending, self.report)
            # The worker died or stalled (a batch handed over after that was cancelled):
            # carry on without it.
            except (BrokenProcessPool, CancelledError) as exc:
                log.error("decode worker lost (%s); decoding in this process", exc)
                if self._worker is not None:
                    self._worker.terminate()
                    self._worker = None
        started = time.perf_counter()
        # Records with a record claim are decided from it, decoded only if they win.
        consumed = self.inbound.decode(batch.records, claims=True)
        self.report.stages[Stage.DECODE] += time.perf_counter() - started
        return consumed
