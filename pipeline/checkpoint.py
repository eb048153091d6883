"""The checkpoint of one batch, shared by live sync and replay.

In ONE database transaction, in this order:
  1. lock the batch's partitions' offset rows and drop what lies before the stored offsets
     (another process of the same group applied it while both held the partition),
  2. apply the rest (record rows and event-log rows, pipeline/apply.py); should an item
     decided on without its rows win (foreseen to lose by the decode worker, or decided
     from its record claim without being decoded: apply raises Unforeseen before writing),
     decode and prepare it from its bytes and apply the batch again,
  3. store the next offset of every partition in the batch,
  4. send the batch's rejects and conflicts to the DLQ and wait for the broker's acks,
  5. commit.
A crash before 5 rolls everything back and the batch is read again (DLQ entries may repeat,
never go missing). A redrive's records (pipeline/items.py `Redriven`) also skip, in step 1,
the DLQ records already redriven, and log their DLQ position in step 2; a dry run rolls
back instead of step 5 (and its DLQ sender only records). Without a `group` (a replay of
one case, a repair of a live database, a redrive) steps 1 and 3 are left out: nothing is
stored that would move a consumer.
A batch the database refuses is applied one event at a time, and the event(s) it cannot take
go to the DLQ; a lost database raises RetryAfter (the caller rewinds and retries).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, OperationalError

from agencydb.offsets import claim_offsets, save_offsets
from agencydb.redriven import redriven
from agencydb.rows import NO_DLQ_POSITION, NO_IDENTITY, Row, RowBuilder
from casebus.events import Event
from casebus.provenance.signing import REFUSAL_REASONS
from casebus.retry import RetryAfter
from casebus.revisions import Outcome, Result
from pipeline.apply import Unforeseen, apply_batch
from pipeline.dlq import DeadLetters
from pipeline.inbound import Consumed, Inbound
from pipeline.items import Claimed, Decoded, Filtered, Foreseen, Item, Redriven, Refused
from pipeline.prepare import Admit
from pipeline.report import Stage, SyncReport

log = logging.getLogger(__name__)

_TO_DLQ = (Outcome.REJECTED, Outcome.CONFLICT)
# What one bad event can raise while applied (the database refusing a value, a payload the
# validator let through but the tables cannot hold): isolate it, DLQ it, move on.
_APPLY_ERRORS = (DBAPIError, KeyError, TypeError, ValueError)
_UNIQUE_VIOLATION = "23505"

Partition = tuple[str, int]


def is_transient_db_error(exc: BaseException) -> bool:
    """Unreachable or restarting database, a locked SQLite file, a deadlock between two sync
    processes, or a record both inserted at once (PostgreSQL): wait and retry."""
    if isinstance(exc, OperationalError | DisconnectionError):
        return True
    if isinstance(exc, IntegrityError):
        return getattr(exc.orig, "sqlstate", None) == _UNIQUE_VIOLATION
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


@dataclass
class Checkpoint:
    engine: Engine
    decoder: Inbound  # validates, and decodes a foreseen item again
    admit: Admit
    dead_letters: DeadLetters
    report: SyncReport
    group: str | None  # whose offsets are locked and stored (None: none are)
    origin: str = "sync"  # logged with every event
    rewrite: bool = False  # a repair: duplicates of the stored revision are written again
    dry_run: bool = False  # decide and write, then roll back (`casebus dlq redrive --dry-run`)
    rows: RowBuilder | None = None  # the agency's row builder, opening its personal fields

    def commit(self, consumed: Sequence[Consumed]) -> list[Result]:
        """Checkpoint one batch; on a refused batch, event by event."""
        try:
            results = self._commit(consumed)
        except _APPLY_ERRORS as exc:
            if is_transient_db_error(exc):
                raise RetryAfter(f"database: {exc}") from exc
            log.error("batch failed to apply (%s); applying one by one", exc)
            results = self._one_by_one(consumed)
        self.report.add(results)
        return results

    def _commit(self, consumed: Sequence[Consumed]) -> list[Result]:
        next_offsets: dict[Partition, int] = {}
        for c in consumed:
            next_offsets[(c.record.topic, c.record.partition)] = c.record.offset + 1
        started, validating = time.perf_counter(), self.report.stages[Stage.VALIDATE]
        with self.engine.begin() as conn:
            stored = self._claim(conn, next_offsets)  # 1
            consumed = self._not_yet_applied(consumed, stored)
            consumed = self._not_yet_redriven(conn, consumed)
            results = self._apply(conn, consumed)  # 2
            if self.group is not None:  # 3
                for tp, offset in stored.items():
                    next_offsets[tp] = max(next_offsets[tp], offset)
                save_offsets(conn, self.group, next_offsets)
            dead = self._dead_letter(consumed, results)  # 4
            transaction = conn.get_transaction()
            if self.dry_run and transaction is not None:
                transaction.rollback()  # instead of 5: nothing is kept
        # 5: committed on leaving the block
        inline = self.report.stages[Stage.VALIDATE] - validating
        self.report.stages[Stage.APPLY] += time.perf_counter() - started - inline
        self.report.dead_lettered += dead
        self._tally(consumed, results)
        return results

    def _tally(self, consumed: Sequence[Consumed], results: Sequence[Result]) -> None:
        """The committed batch's outcomes per topic, DLQ reasons and signature refusals."""
        report = self.report
        by_topic, last_applied = report.by_topic, None
        for c, result in zip(consumed, results, strict=True):
            outcome = result.outcome
            by_topic[(c.record.topic, outcome.value)] += 1
            if outcome is Outcome.APPLIED:
                last_applied = c.record
            elif outcome in _TO_DLQ:
                error_class = _why(c, result)[0]
                report.dead_by[(c.record.topic, error_class)] += 1
                if error_class in REFUSAL_REASONS:
                    report.refusals[error_class] += 1
        if last_applied is not None:
            report.last_applied_ms = getattr(last_applied, "timestamp", None)

    def _apply(self, conn: Connection, consumed: Sequence[Consumed]) -> list[Result]:
        items = [c.item for c in consumed]
        dlq = _dlq_positions(consumed)
        while True:  # each round decodes at least one item: at most len(items) rounds
            try:
                return self._apply_items(conn, items, dlq)
            except Unforeseen as exc:  # nothing was written: decode those, apply again
                log.debug("%s; decoding them", exc)
                for i in exc.indexes:
                    ahead = items[i]
                    if isinstance(ahead, Claimed):  # decided from its claim, not decoded
                        items[i] = self.decoder.decode_claimed(ahead)
                    else:
                        assert isinstance(ahead, Foreseen)
                        items[i] = self.decoder.redecode(ahead)

    def _apply_items(
        self, conn: Connection, items: Sequence[Item], dlq: Sequence[Row] | None
    ) -> list[Result]:
        return apply_batch(
            conn,
            items,
            admit=self.admit,
            validate=self._validate,
            origin=self.origin,
            rewrite=self.rewrite,
            dlq_positions=dlq,
            rows=self.rows,
        )

    def _validate(self, event: Event, kind: str) -> str | None:
        started = time.perf_counter()
        problem = self.decoder.check(event, kind)
        self.report.stages[Stage.VALIDATE] += time.perf_counter() - started
        return problem

    def _claim(self, conn: Connection, partitions: Mapping[Partition, int]) -> dict[Partition, int]:
        if self.group is None:
            return {}
        return claim_offsets(conn, self.group, partitions)

    def _not_yet_applied(
        self, consumed: Sequence[Consumed], stored: Mapping[Partition, int]
    ) -> Sequence[Consumed]:
        fresh = [
            c
            for c in consumed
            if c.record.offset >= stored.get((c.record.topic, c.record.partition), -1)
        ]
        if len(fresh) < len(consumed):
            skipped = len(consumed) - len(fresh)
            log.info("%d events already applied by another process of this group", skipped)
            self.report.skipped += skipped
            return fresh
        return consumed

    def _not_yet_redriven(
        self, conn: Connection, consumed: Sequence[Consumed]
    ) -> Sequence[Consumed]:
        """A redrive's records, less the DLQ records already redriven into this database
        (by an earlier or a concurrent redrive: the event log's unique DLQ position)."""
        asked: dict[str, list[tuple[int, int]]] = {}
        for c in consumed:
            if isinstance(c.record, Redriven):
                asked.setdefault(c.record.dlq_topic, []).append(c.record.dlq_position[1:])
        if not asked:
            return consumed
        done = {(t, *at) for t, positions in asked.items() for at in redriven(conn, t, positions)}
        fresh = [
            c
            for c in consumed
            if not (isinstance(c.record, Redriven) and c.record.dlq_position in done)
        ]
        if len(fresh) < len(consumed):
            log.info("%d DLQ records already redriven", len(consumed) - len(fresh))
            self.report.skipped += len(consumed) - len(fresh)
        return fresh

    def _dead_letter(self, consumed: Sequence[Consumed], results: Sequence[Result]) -> int:
        dead = 0
        for c, result in zip(consumed, results, strict=True):
            if result.outcome in _TO_DLQ:
                self.dead_letters.send(c.record, *_why(c, result))
                dead += 1
        if dead:
            self.dead_letters.flush()  # acknowledged before the commit
        return dead

    def _one_by_one(self, consumed: Sequence[Consumed]) -> list[Result]:
        """A batch the database refused: find the event(s) it cannot take, DLQ them."""
        results: list[Result] = []
        for c in consumed:
            try:
                results.extend(self._commit([c]))
            except _APPLY_ERRORS as exc:
                if is_transient_db_error(exc):
                    raise RetryAfter(f"database: {exc}") from exc
                why = f"cannot apply: {type(exc).__name__}: {exc}"
                results.extend(self._commit([Consumed(c.record, _refused(c.item, why))]))
        return results


def _dlq_positions(consumed: Sequence[Consumed]) -> list[Row] | None:
    """Per item, the DLQ record a redrive sent it back from (None: no redriven record)."""
    if not any(isinstance(c.record, Redriven) for c in consumed):
        return None
    return [
        c.record.dlq_position if isinstance(c.record, Redriven) else NO_DLQ_POSITION
        for c in consumed
    ]


def _why(c: Consumed, result: Result) -> tuple[str, str]:
    """A dead-lettered event's error class and message (the DLQ's headers)."""
    if isinstance(c.item, Refused):
        return c.item.error_class, c.item.message
    return result.error_class or "RevisionConflict", result.detail or ""


def _refused(item: Item, why: str) -> Refused:
    """An item the database would not take, refused with the columns naming its record."""
    if isinstance(item, Refused):
        return item._replace(error_class="ApplyError", message=why)
    if isinstance(item, Decoded):
        return Refused(item.provenance, "ApplyError", why, item.event)
    if isinstance(item, Claimed):
        return Refused(item.provenance, "ApplyError", why)
    if isinstance(item, Filtered):
        return Refused(item.provenance, "ApplyError", why, columns=(item.head, NO_IDENTITY))
    # Its record, without the kind or digest of a decision.
    identity = (None, *item.identity[1:-1], None)
    return Refused(item.provenance, "ApplyError", why, columns=(item.head, identity))
