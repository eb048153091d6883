"""Decode the next batch in a worker process while the main process writes this one.

Per event, Avro decoding and validation cost about as much CPU as deciding and writing, and
they depend on nothing but the bytes: a worker process (the machine's other core) decodes a
batch, works out its kind, content digest and subscription filter, and validates it, while
the main process applies and commits the batch before it. The main process still decides
and writes everything, batch after batch in order, in one transaction each; the worker only
hands over what apply would otherwise compute itself, with the same functions (`Ahead`).

Validation is speculative but never skipped: the worker validates every admitted event
except one preceded in the stream by a valid event of the same record with a revision at
least as high (it can only turn out stale, a duplicate or a conflict: never applied); if
apply does apply an event the worker did not validate, apply validates it itself.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from casebus.config import Settings, Subscription
from casebus.events import Event
from casebus.registry.client import RegistryClient
from services.sync.apply import Ahead, Incoming, Provenance
from services.sync.decode import BatchDecoder, Consumed, log_rejected
from services.sync.filtering import admits
from services.sync.records import content_digest, record_kind
from services.sync.report import SyncReport

# Records remembered for the validation skip; forgotten all at once past this (bounded
# memory whatever the topic's size; forgetting only means validating again).
_SEEN_CAP = 200_000

# Per record: schema id, event, error, error class, error message, what was worked out.
Decoded = tuple[int | None, Event | None, str | None, str | None, str | None, Ahead | None]


@dataclass(frozen=True, slots=True)
class RawRecord:
    """What decoding needs of a consumer record, small enough to send to the worker."""

    topic: str
    partition: int
    offset: int
    value: bytes | None


class _Worker:
    def __init__(self, settings: Settings, logical: Mapping[str, str], agency: str) -> None:
        registry = RegistryClient(settings.registry.url)
        self.decoder = BatchDecoder(settings, registry, logical)
        self.sub: Subscription = settings.sync.subscription(agency)
        self.seen: dict[int, int] = {}  # hash of (kind, owner, record_id) -> valid revision
        self.validating = 0.0  # seconds, this batch

    def run(self, raw: Sequence[RawRecord]) -> tuple[list[Decoded], float, float]:
        """The batch's results, and the seconds spent decoding and validating it."""
        out: list[Decoded] = []
        self.validating = 0.0
        started = time.perf_counter()
        for record in raw:  # a TransientFault (registry down) fails the whole batch
            c = self.decoder.decode_one(record)
            inc = c.incoming
            ahead = None if inc.event is None or inc.error else self._ahead(inc.event)
            out.append(
                (
                    inc.provenance.schema_id,
                    inc.event,
                    inc.error,
                    c.error_class,
                    c.error_message,
                    ahead,
                )
            )
        return out, time.perf_counter() - started - self.validating, self.validating

    def _ahead(self, event: Event) -> Ahead:
        kind = record_kind(event)  # decode_one rejected anything that is not a record
        digest = content_digest(event, kind)
        if not admits(self.sub, event, kind):
            return Ahead(kind, digest, admitted=False, checked=False)
        key = hash((kind, str(event["owner"]), str(event["record_id"])))
        revision = int(event["revision"])
        if self.seen.get(key, -1) >= revision:
            return Ahead(kind, digest, admitted=True, checked=False)
        started = time.perf_counter()
        problem = self.decoder.check(event, kind)
        self.validating += time.perf_counter() - started
        if problem is None:
            if len(self.seen) >= _SEEN_CAP:
                self.seen.clear()
            self.seen[key] = revision
        return Ahead(kind, digest, admitted=True, checked=True, problem=problem)


_worker: _Worker | None = None


def _start_worker(settings: Settings, logical: Mapping[str, str], agency: str, parent: int) -> None:
    global _worker
    # The main process owns shutdown: it finishes its batch, then closes the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    _worker = _Worker(settings, logical, agency)


def _exit_with(parent: int) -> None:
    """A killed main process (SIGKILL) closes nothing: leave with it instead of lingering
    (the pool's queue, which the worker holds both ends of, never reports it). `parent` is
    the pid the main process gave: it may be gone before this worker has even started."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


Work = tuple[list[Decoded], float, float]  # results, decode seconds, validate seconds


def _decode(raw: Sequence[RawRecord]) -> Work:
    assert _worker is not None
    return _worker.run(raw)


class Prefetcher:
    """One worker process (spawned: the consumer's threads must not be forked)."""

    def __init__(self, settings: Settings, logical: Mapping[str, str], agency: str) -> None:
        self._pool = ProcessPoolExecutor(
            1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(settings, dict(logical), agency, os.getpid()),
        )

    def submit(self, records: Sequence[Any]) -> Future[Work]:
        raw = [RawRecord(r.topic, r.partition, r.offset, r.value) for r in records]
        return self._pool.submit(_decode, raw)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def collect(records: Sequence[Any], future: Future[Work], report: SyncReport) -> list[Consumed]:
    """The worker's results as Consumed items (raises what the worker raised)."""
    started = time.perf_counter()
    results, decoding, validating = future.result()
    report.stages["wait for worker"] += time.perf_counter() - started
    report.stages["decode"] += decoding
    report.stages["validate"] += validating
    consumed = []
    for record, decoded in zip(records, results, strict=True):
        schema_id, event, error, error_class, message, ahead = decoded
        prov = Provenance(record.topic, record.partition, record.offset, schema_id)
        c = Consumed(record, Incoming(prov, event, error, ahead), error_class, message)
        if error_class is not None:
            log_rejected(c)
        consumed.append(c)
    return consumed
