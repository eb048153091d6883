"""The wiring of a sink, written once: what the batch loop writes one agency database
through (sync, replay and redrive differ only in the arguments).

Order matters: the decode worker is forked first, before any database connection, Kafka
client or thread exists (casebus/workers.py); then the database, its WAL flusher, the
registry client, the DLQ sender and the checkpoint.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import ExitStack, closing
from dataclasses import dataclass

from sqlalchemy import Engine

from agencydb.rows import RowBuilder
from agencydb.wal import WalFlusher
from casebus.config import Settings
from casebus.filtering import admits
from casebus.registry.client import RegistryClient, registry_for
from casebus.topics import TopicNames
from pipeline.checkpoint import Checkpoint
from pipeline.decode_worker import DecodeWorker
from pipeline.dlq import DeadLetters
from pipeline.inbound import Inbound
from pipeline.personal import carry_out_erasures, opener_for
from pipeline.report import SyncReport


@dataclass
class Sink:
    engine: Engine
    registry: RegistryClient
    inbound: Inbound
    dead_letters: DeadLetters
    checkpoint: Checkpoint
    worker: DecodeWorker | None
    wal: WalFlusher | None

    @property
    def report(self) -> SyncReport:
        return self.checkpoint.report


def open_sink(
    stack: ExitStack,
    settings: Settings,
    agency: str,
    names: TopicNames,
    *,
    principal: str,
    url: str,  # the database written (the worker builds rows for its dialect)
    connect: Callable[[], Engine],  # the migrated database, connected after the fork
    group: str | None,  # whose offsets the checkpoint locks and stores (None: none)
    dlq_consumer: str,  # named in the DLQ records' headers
    origin: str = "sync",
    rewrite: bool = False,
    decode_worker: bool = False,
    lock: int | None = None,  # a descriptor the worker must not keep (the SQLite sync lock)
    verify: bool = True,  # signatures; False only in bench/sync.py's comparison run
    dead_letters: DeadLetters | None = None,  # the DLQ sender (default: one of its own)
    dry_run: bool = False,  # every batch rolled back (a redrive's --dry-run)
) -> Sink:
    """Everything closes with `stack`, in reverse order; the engine is the caller's."""
    worker = None
    if decode_worker:
        fds = [lock] if lock is not None else []
        forked = DecodeWorker(
            settings, names, agency, url, principal=principal, close_fds=fds, verify=verify
        )
        worker = stack.enter_context(closing(forked))
    engine = connect()
    wal = WalFlusher.for_engine(engine)
    if wal is not None:
        stack.callback(wal.stop)
    opener = opener_for(settings, agency, principal)
    rows = RowBuilder(engine.dialect, opener)
    if not dry_run:  # before any event: nothing erased is read
        carry_out_erasures(engine, settings, rows, opener.keys)
    registry = registry_for(settings, principal)
    stack.callback(registry.close)
    inbound = Inbound(settings, registry, names, verify=verify)
    if dead_letters is None:
        dead_letters = DeadLetters.open(
            settings, settings.sync.dlq_for(agency), dlq_consumer, principal
        )
    stack.callback(dead_letters.close)
    checkpoint = Checkpoint(
        engine,
        inbound,
        admit=functools.partial(admits, settings.sync.subscription(agency)),
        dead_letters=dead_letters,
        report=SyncReport(agency),
        group=group,
        origin=origin,
        rewrite=rewrite,
        dry_run=dry_run,
        rows=rows,
    )
    return Sink(engine, registry, inbound, dead_letters, checkpoint, worker, wal)
