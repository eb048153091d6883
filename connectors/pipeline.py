"""Prepare a page for sending (map → validate → serialize), in-process or in a worker.

Mapping, validating and serializing cost about 1.5 times the CPU per event of the
producer's send() (45 against 29 µs in bench/produce.py), and one Python process runs one
thing at a time. With worker processes, the runner sends page k while the workers prepare
pages k+1, k+2; the runner still sends, awaits and checkpoints pages in order
(connectors.runner). Workers are forked from the runner, so they start in milliseconds
with the code already loaded, and never touch a socket or the checkpoint store: schema ids
are resolved in the runner before the fork.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from casebus.config import Settings
from casebus.contracts.validation import Violation
from casebus.events import Event
from casebus.gctune import tune_process
from casebus.publish import EventEncoder, Outgoing, Publisher, Rejected
from connectors.base import Connector, MappingError, SourceRecord

Item = Outgoing | Rejected  # per record: its encoded events, or the record rejected
# Workers: preparing costs about 1.5 times the CPU of sending, so two workers keep the
# runner busy, at most one per core (the runner and the broker share the cores too).
WORKERS = min(2, os.cpu_count() or 1)
WORKER_AHEAD = WORKERS + 1  # pages prepared ahead of the one being sent, with workers

_worker: tuple[Connector, EventEncoder] | None = None  # set in the worker process


def prepare_page(
    connector: Connector, encoder: EventEncoder, records: list[SourceRecord]
) -> list[Item]:
    """Each record's events, checked and encoded, or the record rejected with every rule it
    broke (one bad event rejects the whole record); in record order.

    Stage by stage over the page (map every record, then check every event, then encode):
    the same work as record by record, about a fifth less CPU, as each stage's code and
    data stay in the processor's caches."""
    mapped: list[tuple[SourceRecord, list[Event], list[Violation]]] = []
    for record in records:
        try:
            mapped.append((record, connector.map(record), []))
        except MappingError as exc:
            mapped.append((record, [], exc.violations))
    check = encoder.check
    for _, events, violations in mapped:
        for event in events:
            violations.extend(check(event))
    # Encoded and signed together: one signature per batch of events (casebus.provenance).
    valid = [event for _, events, violations in mapped if not violations for event in events]
    encoded = iter(encoder.encode_all(valid))
    items: list[Item] = []
    for record, events, violations in mapped:
        if violations:
            items.append(
                Rejected(
                    source_system=connector.source_system,
                    source_record_id=connector.record_key(record),
                    record=record,
                    violations=violations,
                    connector=connector.config.name,
                )
            )
        else:
            items.extend(next(encoded) for _ in events)
    return items


class Preparer:
    """Prepares pages in-process, or in forked workers for pages of `min_page` records or
    more (started at the first such page, stopped by `close`)."""

    def __init__(self, connector: Connector, publisher: Publisher, *, min_page: int) -> None:
        self.connector = connector
        self.publisher = publisher
        usable = "fork" in multiprocessing.get_all_start_methods()
        self.min_page = min_page if usable else 0
        self._pool: ProcessPoolExecutor | None = None

    @property
    def ahead(self) -> int:
        """How many prepared pages may wait behind the one being sent."""
        return WORKER_AHEAD if self._pool is not None else 0

    def submit(self, records: list[SourceRecord]) -> Callable[[], list[Item]]:
        """Start preparing a page; the returned call gives its items (or raises)."""
        if self.min_page and len(records) >= self.min_page:
            if self._pool is None:
                return self._start(records)
            return self._pool.submit(_prepare_in_worker, records).result
        items = prepare_page(self.connector, self.publisher.encoder, records)
        return lambda: items

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _start(self, first: list[SourceRecord]) -> Callable[[], list[Item]]:
        """Start the pool with its first page."""
        encoder = self.publisher.encoder
        ids = encoder.schema_ids(self.connector.topics)  # the registry round trips, here
        encoder.check_signer(self.connector.owner)  # a missing key fails here, not in a worker
        self._pool = ProcessPoolExecutor(
            max_workers=WORKERS,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_start_worker,
            initargs=(self.connector, encoder.settings, encoder.topics, ids, encoder.signs),
        )
        # A forking pool forks its workers in the first submit. Frozen at that moment, the
        # runner's objects are left out of the workers' garbage collections, which would
        # otherwise walk them (and copy the memory pages they touch) again and again.
        gc.collect()
        gc.freeze()
        try:
            return self._pool.submit(_prepare_in_worker, first).result
        finally:
            gc.unfreeze()


def _start_worker(
    connector: Connector,
    settings: Settings,
    topics: dict[str, str],
    ids: dict[str, int],
    sign: bool,
) -> None:
    global _worker
    # Stopping is the runner's decision (it drops the pages prepared ahead); a SIGINT or
    # SIGTERM sent to the whole process group must not break the pool under it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _worker = (connector, EventEncoder.with_ids(settings, topics, ids, sign=sign))
    # A page's events and items live until it is sent back, then all go at once: collect
    # young objects less often (what the sync decode worker does too).
    tune_process()


def _prepare_in_worker(records: list[SourceRecord]) -> list[Item]:
    if _worker is None:
        raise RuntimeError("the page worker was not started")
    return prepare_page(*_worker, records)
