"""Decode and prepare the next batch in a worker process while the main process writes this one.

Per event, Avro decoding, validation and building the rows cost more CPU than deciding and
writing, and they depend on nothing but the bytes: a worker process (the machine's other
core) decodes a batch and prepares each event with apply's own `prepare` (kind, digest,
subscription filter, rows) and validates it, while the main process applies and commits the
batch before it. The main process still decides and writes everything, batch after batch in
order, in one transaction each. What comes back is tuples of plain values, not the decoded
events: several times cheaper to unpickle, which is most of what the main process saves.

Validation is speculative but never skipped: the worker validates every admitted event
except one preceded in the stream by a valid event of the same record with a revision at
least as high (it can only turn out stale, a duplicate or a conflict: never applied), and
leaves out its rows too; if apply does apply such an event (after a rewind, say), the main
process decodes it again from its bytes, prepares and validates it itself.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from sqlalchemy.engine import make_url

from casebus.config import Settings, Subscription
from casebus.events import Event
from casebus.gctune import tune_process
from casebus.registry.client import registry_for
from services.sync.decode import BatchDecoder, Consumed, RawRecord, log_rejected
from services.sync.filtering import admits
from services.sync.prepare import Filtered, Incoming, Prepared, Provenance, prepare
from services.sync.records import RecordKey
from services.sync.report import SyncReport
from services.sync.rows import RowBuilder

# Records remembered for the validation skip; forgotten all at once past this (bounded
# memory whatever the topic's size; forgetting only means validating again).
_SEEN_CAP = 200_000

# Per record: schema id, the event (only if rejected), error, error class, error message,
# and the prepared item (if not rejected).
Decoded = tuple[int | None, Event | None, str | None, str | None, str | None, Any]


class _Worker:
    def __init__(
        self,
        settings: Settings,
        logical: Mapping[str, str],
        agency: str,
        db_url: str,
        principal: str,
        verify: bool,
    ) -> None:
        registry = registry_for(settings, principal)
        self.decoder = BatchDecoder(settings, registry, logical, verify=verify)
        self.sub: Subscription = settings.sync.subscription(agency)
        # The writer's dialect, without connecting: rows are built as it will write them.
        self.rows = RowBuilder(make_url(db_url).get_dialect()())
        self.seen: dict[int, int] = {}  # hash of (kind, owner, record_id) -> valid revision
        self.validating = 0.0  # seconds, this batch

    def run(self, raw: Sequence[RawRecord]) -> Work:
        """The batch's results, and the seconds spent decoding, preparing and validating."""
        out: list[Decoded] = []
        self.validating = preparing = 0.0
        started = time.perf_counter()
        for record in raw:  # a TransientFault (registry down) fails the whole batch
            c = self.decoder.decode_one(record)
            inc = c.incoming
            schema_id = inc.provenance.schema_id
            if inc.event is None or inc.error is not None:
                out.append((schema_id, inc.event, inc.error, c.error_class, c.error_message, None))
                continue
            t = time.perf_counter()
            # decode_one rejected anything that is not a record: no NotARecord here.
            prep = prepare(inc.event, inc.provenance, self.rows, self._admit, self._will_lose)
            preparing += time.perf_counter() - t
            if isinstance(prep, Prepared) and prep.state is not None:
                prep = self._validated(inc.event, prep)
            out.append((schema_id, None, None, None, None, prep))
        decoding = time.perf_counter() - started - preparing - self.validating
        return out, decoding, preparing, self.validating

    def _admit(self, event: Event, kind: str) -> bool:
        return admits(self.sub, event, kind)

    def _will_lose(self, key: RecordKey, revision: int) -> bool:
        """A valid revision at least as high of this record came earlier in the stream."""
        return self.seen.get(hash(key), -1) >= revision

    def _validated(self, event: Event, prep: Prepared) -> Prepared:
        started = time.perf_counter()
        problem = self.decoder.check(event, prep.kind)
        self.validating += time.perf_counter() - started
        if problem is None:
            if len(self.seen) >= _SEEN_CAP:
                self.seen.clear()
            self.seen[hash(prep.key)] = prep.revision
        return prep._replace(checked=True, problem=problem)


_worker: _Worker | None = None


def _start_worker(
    settings: Settings,
    logical: Mapping[str, str],
    agency: str,
    db_url: str,
    principal: str,
    parent: int,
    inherited: Sequence[int],
    verify: bool,
) -> None:
    global _worker
    for fd in inherited:  # the parent's locks are its own (see single_writer)
        os.close(fd)
    # The main process owns shutdown: it finishes its batch, then closes the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    _worker = _Worker(settings, logical, agency, db_url, principal, verify)
    tune_process()


def _exit_with(parent: int) -> None:
    """A killed main process (SIGKILL) closes nothing: leave with it instead of lingering
    (the pool's queue, which the worker holds both ends of, never reports it). `parent` is
    the pid the main process gave: it may be gone before this worker has even started."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


Work = tuple[list[Decoded], float, float, float]  # results; decode, prepare, validate seconds


def _decode(raw: Sequence[RawRecord]) -> Work:
    assert _worker is not None
    return _worker.run(raw)


class Prefetcher:
    """One worker process, forked at once: create it before the Kafka consumer, whose
    threads must not be forked. Forked with the start-up heap frozen, the worker shares its
    imported code and data with this process instead of loading its own copy (a spawned one
    took 140 MB of its own)."""

    def __init__(
        self,
        settings: Settings,
        logical: Mapping[str, str],
        agency: str,
        db_url: str,
        *,
        principal: str,  # whom the worker's registry client authenticates as
        close_fds: Sequence[int] = (),  # descriptors the worker must not keep open
        verify: bool = True,  # signatures (False only in bench/sync.py's comparison run)
    ) -> None:
        self._pool = ProcessPoolExecutor(
            1,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_start_worker,
            initargs=(
                settings,
                dict(logical),
                agency,
                db_url,
                principal,
                os.getpid(),
                tuple(close_fds),
                verify,
            ),
        )
        gc.collect()
        gc.freeze()  # the child's collector never walks (and so never copies) these pages
        try:
            self._pool.submit(int).result()  # fork now, not at the first batch
        finally:
            gc.unfreeze()

    def submit(self, records: Sequence[Any]) -> Future[Work]:
        raw = [RawRecord.of(r) for r in records]
        return self._pool.submit(_decode, raw)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def collect(records: Sequence[Any], future: Future[Work], report: SyncReport) -> list[Consumed]:
    """The worker's results as Consumed items (raises what the worker raised)."""
    started = time.perf_counter()
    results, decoding, preparing, validating = future.result()
    report.stages["wait for worker"] += time.perf_counter() - started
    report.stages["decode"] += decoding
    report.stages["prepare"] += preparing
    report.stages["validate"] += validating
    consumed = []
    for record, decoded in zip(records, results, strict=True):
        schema_id, event, error, error_class, message, prep = decoded
        assert prep is None or isinstance(prep, Prepared | Filtered)
        prov = Provenance(record.topic, record.partition, record.offset, schema_id)
        c = Consumed(record, Incoming(prov, event, error, prep, record.value), error_class, message)
        if error_class is not None:
            log_rejected(c)
        consumed.append(c)
    return consumed
