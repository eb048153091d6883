"""The apply rule, written once: live sync and replay both call `apply_batch`.

- a new (kind, owner, record_id) is inserted; a higher revision replaces the stored one;
- a lower revision is stale, the same revision with the same digest a duplicate: logged only;
- the same revision with a different digest is a conflict: kept out, alerted (ERROR log),
  and the caller sends it to the DLQ.

A batch is decided in memory, in delivery order, against the current revisions loaded in one
query, so two revisions of one record in one batch resolve as they would one by one; then
only the final state of each record is written (bulk upserts). Every item, whatever its
outcome, gets an event-log row. Nothing here commits: the caller owns the transaction.
What the rule needs of an event (services/sync/prepare.py) is worked out inline, or ahead
by a decode worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache

from sqlalchemy import Connection, func, select
from sqlalchemy.engine import Dialect

from casebus.events import Event
from services.sync.chain import link, lock_head, move_head, state_digest
from services.sync.prepare import Admit, Filtered, Incoming, Prepared, Provenance, prepare
from services.sync.records import NotARecord, RecordKey
from services.sync.rows import EVENT_LOG, LOG_COLUMNS, NO_IDENTITY, Row, RowBuilder
from services.sync.states import write_states
from services.sync.writes import stored_revisions, write_tuples

__all__ = ["Incoming", "Outcome", "Provenance", "Result", "apply_batch"]

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    APPLIED = "applied"
    STALE = "stale"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    REJECTED = "rejected"
    FILTERED = "filtered"


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    detail: str | None = None
    error_class: str | None = None  # why a rejected event was rejected, for the DLQ


# Checks an item that is about to be applied (its kind given); returns why it must not be,
# or None. Only events that would change a record are checked: a stale or duplicate one
# changes nothing whatever its content, so validating it would be wasted work.
Check = Callable[[Incoming, str], str | None]


@cache
def row_builder(dialect: Dialect) -> RowBuilder:
    return RowBuilder(dialect)


def apply_batch(
    conn: Connection,
    items: Sequence[Incoming],
    *,
    admit: Admit | None = None,
    check: Check | None = None,
    load: Callable[[Incoming], Event] | None = None,
    now: datetime | None = None,
    origin: str = "sync",
    rewrite: bool = False,
) -> list[Result]:
    """Apply the items in order; return one Result per item.

    `admit(event, kind)` filters by subscription (items prepared ahead were filtered by the
    worker, with the same subscription); `check(item, kind)` validates an event before it
    is applied (a failure is `rejected`, with the reason), unless it was validated ahead.
    `load(item)` gives the event of an item prepared ahead without it, when apply needs it.
    `origin` is logged with every item ("sync" or "replay"). `rewrite` (a replay repairing a
    database): a duplicate of the stored revision writes its state again, so rows edited by
    hand since are put back as the event says.
    """
    now = now or datetime.now(UTC)
    rows = row_builder(conn.dialect)
    prepared = [_prepare(item, admit, rows) for item in items]
    keys = {p.key for p in prepared if isinstance(p, Prepared)}
    current = _current_revisions(conn, keys)
    stored = set(current)  # in the database before this batch
    winners: dict[RecordKey, tuple[int, Prepared]] = {}  # the last winner of each record
    results: list[Result] = []
    for index, (item, prep) in enumerate(zip(items, prepared, strict=True)):
        if isinstance(prep, Result):
            results.append(prep)
            continue
        if isinstance(prep, Filtered):
            results.append(Result(Outcome.FILTERED))
            continue
        key = prep.key
        result = _decide(prep, current.get(key))
        if result.outcome is Outcome.APPLIED and check is not None:
            problem = prep.problem if prep.checked else check(item, prep.kind)
            if problem is not None:
                result = Result(Outcome.REJECTED, problem, "ValidationError")
        repair = rewrite and result.outcome is Outcome.DUPLICATE
        if result.outcome is Outcome.APPLIED or repair:
            if prep.state is None:  # the worker expected it to lose: prepare it in full
                event = item.event if item.event is not None else _load(load, item)
                full = prepare(event, item.provenance, rows, None)
                assert isinstance(full, Prepared)
                prep = full._replace(checked=prep.checked, problem=prep.problem)
            current[key] = (prep.revision, prep.digest)
            winners[key] = (index, prep)
        elif result.outcome is Outcome.CONFLICT:
            log.error(
                "conflict on %s %s/%s at %s:%d@%d: %s",
                prep.kind,
                prep.owner,
                prep.record_id,
                item.provenance.topic,
                item.provenance.partition,
                item.provenance.offset,
                result.detail,
            )
        results.append(result)
    states = {i: p.state for i, p in winners.values() if p.state is not None}
    write_states(conn, list(states.values()), rows=rows, now=now, stored=stored)
    written = {i: state_digest(state) for i, state in states.items()}
    _log_events(conn, items, prepared, results, written, rows, now, origin)
    return results


def _load(load: Callable[[Incoming], Event] | None, item: Incoming) -> Event:
    if load is None:
        raise ValueError(f"no event for {item.provenance} and no way to load it")
    return load(item)


def _prepare(item: Incoming, admit: Admit | None, rows: RowBuilder) -> Prepared | Filtered | Result:
    if item.error is not None:
        return Result(Outcome.REJECTED, item.error)
    if item.prepared is not None:
        return item.prepared
    if item.event is None:
        return Result(Outcome.REJECTED, "not decoded")
    try:
        return prepare(item.event, item.provenance, rows, admit)
    except NotARecord as exc:
        return Result(Outcome.REJECTED, str(exc))


def _decide(prep: Prepared, stored: tuple[int, str] | None) -> Result:
    revision = prep.revision
    if stored is None or revision > stored[0]:
        return Result(Outcome.APPLIED)
    if revision < stored[0]:
        return Result(Outcome.STALE, f"revision {revision} < stored {stored[0]}")
    if prep.digest == stored[1]:
        return Result(Outcome.DUPLICATE)
    return Result(
        Outcome.CONFLICT,
        f"revision {revision} stored with digest {stored[1][:12]}, event has {prep.digest[:12]}",
    )


def _current_revisions(conn: Connection, keys: set[RecordKey]) -> dict[RecordKey, tuple[int, str]]:
    """Stored (revision, digest) of the given records, looked up by record id."""
    found: dict[RecordKey, tuple[int, str]] = {}
    record_ids = sorted({key[2] for key in keys})
    for kind, owner, record_id, revision, digest in stored_revisions(conn, record_ids):
        key = RecordKey((kind, owner, record_id))
        if key in keys:  # another owner's record with the same id is not asked for
            found[key] = (revision, digest)
    return found


def _log_events(
    conn: Connection,
    items: Sequence[Incoming],
    prepared: Sequence[Prepared | Filtered | Result],
    results: Sequence[Result],
    written: dict[int, str],  # item index -> digest of the state it wrote
    rows: RowBuilder,
    now: datetime,
    origin: str,
) -> None:
    """One chained row per item (services/sync/chain.py), the head moved past them."""
    logged_at = rows.stamp("event_log", "logged_at", now)
    head = lock_head(conn)  # held to the commit: one writer at a time extends the chain
    previous = head.hash
    out = []
    for index, (item, prep, result) in enumerate(zip(items, prepared, results, strict=True)):
        if isinstance(prep, Prepared):
            log_head, identity = prep.head, prep.identity
        elif isinstance(prep, Filtered):  # not ours to know which record it was
            log_head, identity = prep.head, NO_IDENTITY
        else:
            log_head, identity = _rejected_log(item, rows)
        tail = (result.outcome.value, result.detail, logged_at, origin, written.get(index))
        row = log_head + identity + tail
        previous = link(previous, row)
        out.append((*row, previous))
    write_tuples(conn, EVENT_LOG, LOG_COLUMNS, out)
    if out:
        position = conn.scalar(select(func.max(EVENT_LOG.c.id)))
        move_head(conn, head, int(position), previous, len(out))


def _rejected_log(item: Incoming, rows: RowBuilder) -> tuple[Row, Row]:
    """An item rejected before it could be decided on: the record it names, if it names
    one, but no kind or digest."""
    ahead = item.prepared
    if isinstance(ahead, Prepared):
        return ahead.head, (None, *ahead.identity[1:-1], None)
    if isinstance(ahead, Filtered):
        return ahead.head, NO_IDENTITY
    if item.event is None:
        return rows.log_head(item.provenance, None), NO_IDENTITY
    return rows.log_head(item.provenance, item.event), rows.log_identity(item.event)
