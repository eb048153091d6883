"""`casebus dlq redrive CONSUMER`: a DLQ's records sent back through the one pipeline, once
the cause is fixed (a key added to the trust list, a registry that was unreachable).

The records are another source of the batch loop (pipeline/loop.py): the DLQ is read to the
end offsets taken when the redrive starts (what it appends itself lies past them), the
records the filters take and that were not redriven before become `Redriven` records — the
original record, its own headers only, with its DLQ position — ordered by original topic,
partition and offset, and go through an AssignedSource at a bounded rate into the same
inbound step (signature, decode, signer, topic), the same checkpoint and apply rule
(validation, the revision rule) as the agency's sync, in one transaction per batch.

- An event that now passes is applied (or found stale or a duplicate) and its event-log row
  is marked `origin = redrive` with its DLQ position. That row, written in the batch's
  transaction, is what remembers the DLQ record as redriven: a second redrive skips it,
  and the event log's unique DLQ position keeps two redrives from both applying it.
- One that fails again is logged the same way (rejected, with its new reason) and goes to
  the DLQ as a new record with its new reason and `casebus.error.redrive-of`; the old
  record stays where it is (a DLQ is never rewritten). The new record is a record like any
  other: a later redrive sends it again.
- `dry_run`: every batch is decided and written, then rolled back, and nothing is sent to
  the DLQ: what a redrive would apply and what would fail again, with the reasons.

Only an agency sync's DLQ is redriven. The feeds' DLQ is shown but not redriven: the feeds
forward leads Kafka to Kafka in transactions with their own state, not through an agency
database's checkpoint, and sending records back into them needs a path of its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from kafka import TopicPartition

from agencydb.engine import open_database
from agencydb.redriven import redriven
from casebus.config import Settings
from casebus.ids import ConsumedRecord
from casebus.retry import Backoff
from casebus.security.principals import admin
from pipeline.deadletters import DlqEntry, read_dlq
from pipeline.dlq import DeadLetters, RecordedDeadLetters
from pipeline.heads import HeadPublisher
from pipeline.items import Redriven
from pipeline.loop import BatchLoop
from pipeline.report import SyncReport
from pipeline.settings import SyncTuning
from pipeline.sink import open_sink
from pipeline.sources import AssignedSource, Scope
from services.dlq.filters import Filter, Pace
from services.dlq.target import DlqTarget

log = logging.getLogger(__name__)

DEFAULT_RATE = 50.0  # events a second

Position = tuple[str, int, int]  # a DLQ record: topic, partition, offset


class RedriveNotSupported(ValueError):
    """A DLQ that cannot be redriven (the feeds'); the message says why."""


@dataclass(frozen=True, slots=True)
class RedriveRequest:
    target: DlqTarget
    filter: Filter = field(default_factory=Filter)
    dry_run: bool = False
    rate: float = DEFAULT_RATE
    principal: str | None = None  # default: the admin principal


@dataclass(frozen=True, slots=True)
class Failed:
    """A record sent back that was refused again: its new reason."""

    entry: DlqEntry
    error_class: str
    message: str


@dataclass
class RedriveReport:
    request: RedriveRequest
    report: SyncReport
    total: int = 0  # records in the DLQ, to the end offsets taken at the start
    ends: dict[int, int] = field(default_factory=dict)
    matched: int = 0  # taken by the filter
    already: int = 0  # of those, redriven before
    foreign: list[DlqEntry] = field(default_factory=list)  # of a topic the agency no longer reads
    sent: list[DlqEntry] = field(default_factory=list)
    failed: list[Failed] = field(default_factory=list)
    waited: float = 0.0  # seconds held back by the rate

    @property
    def passed(self) -> int:
        return len(self.sent) - len(self.failed)

    def lines(self) -> list[str]:
        r, target = self.request, self.request.target
        mode = "dry run: " if r.dry_run else ""
        ends = ", ".join(f"{p}:{o}" for p, o in sorted(self.ends.items())) or "empty"
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.report.counts.items())) or "none"
        out = [
            f"{mode}redrive of {target.topic} into {target.consumer} ({r.filter.describe()}): "
            f"{self.total} DLQ records read (to offsets {ends}), {self.matched} taken, "
            f"{self.already} redriven before, {len(self.sent)} "
            + ("would be sent" if r.dry_run else f"sent at up to {r.rate:g}/s"),
            f"outcomes: {counts}",
        ]
        if self.foreign:
            out.append(
                f"{len(self.foreign)} not sent: their topic is not one {target.consumer} reads"
            )
        if self.failed:
            stays = (
                "would stay in the DLQ"
                if r.dry_run
                else "still failing, left in the DLQ as new records"
            )
            out.append(f"{len(self.failed)} {stays}:")
            for f in self.failed:
                e = f.entry
                out.append(
                    f"  {e.topic}[{e.partition}]@{e.offset} (DLQ {e.dlq_partition}@"
                    f"{e.dlq_offset}, was {e.error_class}): {f.error_class}: {f.message}"
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        r = self.request

        def where(e: DlqEntry) -> dict[str, Any]:
            return {
                "dlq_partition": e.dlq_partition,
                "dlq_offset": e.dlq_offset,
                "topic": e.topic,
                "partition": e.partition,
                "offset": e.offset,
                "reason": e.error_class,
            }

        return {
            "consumer": r.target.consumer,
            "topic": r.target.topic,
            "dry_run": r.dry_run,
            "rate": r.rate,
            "filter": {
                "reason": r.filter.reason,
                "since": r.filter.since.isoformat() if r.filter.since else None,
            },
            "total": self.total,
            "ends": {str(p): o for p, o in sorted(self.ends.items())},
            "matched": self.matched,
            "already_redriven": self.already,
            "not_read_by_agency": [where(e) for e in self.foreign],
            "sent": [where(e) for e in self.sent],
            "outcomes": dict(sorted(self.report.counts.items())),
            "passed": self.passed,
            "failed": [
                {**where(f.entry), "new_reason": f.error_class, "detail": f.message}
                for f in self.failed
            ],
            "seconds": round(self.report.seconds, 3),
        }


class _Noted(DeadLetters):
    """Sends as usual, and notes each redriven record's new reason."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.noted: dict[Position, tuple[str, str]] = {}

    def send(self, record: ConsumedRecord, error_class: str, message: str) -> None:
        if isinstance(record, Redriven):
            self.noted[record.dlq_position] = (error_class, message)
        super().send(record, error_class, message)


class Paced:
    """A source whose batches are let through at `pace`'s rate (the batch loop's Source)."""

    def __init__(self, source: AssignedSource, pace: Pace, stop: threading.Event) -> None:
        self._source, self._pace, self._stop = source, pace, stop

    @property
    def backlog(self) -> bool:
        return False  # no decode worker: a redrive is small and paced

    def poll(self, stop: threading.Event) -> list[ConsumedRecord] | None:
        batch = self._source.poll(stop)
        if batch:
            self._pace.take(len(batch), self._stop)
        return batch

    def rewind(self, records: Sequence[ConsumedRecord]) -> None:
        self._source.rewind(records)

    def caught_up(self) -> bool:
        return self._source.caught_up()


def redrive(
    settings: Settings, request: RedriveRequest, stop: threading.Event | None = None
) -> RedriveReport:
    target = request.target
    agency = target.agency
    if agency is None:
        raise RedriveNotSupported(
            f"{target.topic} is the feeds' DLQ: it can be shown (`casebus dlq show "
            f"{target.consumer}`) but not redriven yet. The feeds forward leads Kafka to "
            "Kafka in transactions with their own state, not through an agency database's "
            "checkpoint; a refused lead reaches the feeds again with its owner's next revision"
        )
    stop = stop or threading.Event()
    principal = request.principal or admin(settings)
    started = time.monotonic()
    read = read_dlq(settings, target.topic, principal=principal)  # DlqAccessDenied first
    tuning = SyncTuning.of(settings)
    names = settings.sync.names_for(agency)
    url = settings.sync_database_url(agency)
    consumer = f"redrive.{agency}"
    with ExitStack() as stack:
        dead: DeadLetters
        if request.dry_run:
            dead = RecordedDeadLetters(target.topic, consumer)
        else:
            dead = _Noted.open(settings, target.topic, consumer, principal)
        sink = open_sink(
            stack,
            settings,
            agency,
            names,
            principal=principal,
            url=url,
            connect=lambda: open_database(url),
            group=None,  # nothing stored moves the sync: the event log remembers
            dlq_consumer=consumer,
            origin="redrive",
            dead_letters=dead,
            dry_run=request.dry_run,
        )
        engine = sink.engine
        stack.callback(engine.dispose)
        out = RedriveReport(request, sink.report, total=len(read.entries), ends=read.ends)
        with engine.connect() as conn:
            done = redriven(conn, target.topic)
        taken = [e for e in read.entries if request.filter(e)]
        out.matched = len(taken)
        fresh = [e for e in taken if e.position not in done]
        out.already = len(taken) - len(fresh)
        readable = set(names.actual_names())
        out.foreign = [e for e in fresh if e.topic not in readable]
        out.sent = sorted(
            (e for e in fresh if e.topic in readable),
            key=lambda e: (e.topic, e.partition, e.offset, e.dlq_partition, e.dlq_offset),
        )
        if out.sent:
            _run(sink, out.sent, request, tuning, stop, out)
        noted = _new_reasons(dead)
        by_position = {(e.dlq_topic, *e.position): e for e in out.sent}
        out.failed = [Failed(by_position[p], *why) for p, why in noted.items() if p in by_position]
        if not request.dry_run and out.sent:  # the chain moved: its new head, as evidence
            HeadPublisher(settings, agency, engine, principal).close()
    out.report.seconds = time.monotonic() - started
    return out


def _run(
    sink: Any,
    sent: list[DlqEntry],
    request: RedriveRequest,
    tuning: SyncTuning,
    stop: threading.Event,
    out: RedriveReport,
) -> None:
    by_partition: dict[TopicPartition, list[ConsumedRecord]] = {}
    for e in sent:
        by_partition.setdefault(TopicPartition(e.topic, e.partition), []).append(e.redriven())
    scope = Scope(starts={}, ends={}, records=by_partition)
    batch = max(1, min(tuning.batch_size, int(request.rate)))
    pace = Pace(request.rate)
    source = Paced(AssignedSource(None, scope, batch), pace, stop)
    loop = BatchLoop(
        source,
        checkpoint=sink.checkpoint,
        inbound=sink.inbound,
        worker=None,
        backoff=Backoff(tuning.retry_max_seconds),
    )
    loop.run(stop)
    out.waited = pace.waited


def _new_reasons(dead: DeadLetters) -> dict[Position, tuple[str, str]]:
    if isinstance(dead, _Noted):
        return dead.noted
    if isinstance(dead, RecordedDeadLetters):
        return {r.dlq_position: (c, m) for r, c, m in dead.recorded if isinstance(r, Redriven)}
    return {}
