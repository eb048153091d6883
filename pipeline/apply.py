"""The apply rule, written once: live sync and replay both call `apply_batch`.

- a new (kind, owner, record_id) is inserted; a higher revision replaces the stored one;
- a lower revision is stale, the same revision with the same digest a duplicate: logged only;
- the same revision with a different digest is a conflict: kept out, alerted (ERROR log),
  and the caller sends it to the DLQ;
- an event that would change a record is validated first (unless the decode worker did):
  an invalid one is rejected, and changes nothing.

A batch is decided in memory, in delivery order, against the current revisions loaded in one
query (`decide`: no database, no broker), so two revisions of one record in one batch
resolve as they would one by one; then only the final state of each record is written (bulk
upserts). Every item, whatever its outcome, gets an event-log row. Nothing here commits: the
caller owns the transaction. The items' stages are in pipeline/items.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.engine import Dialect

from agencydb.chain import LogText, link, link_after, lock_head, log_text, move_head, state_digest
from agencydb.rows import (
    EVENT_LOG,
    LOG_COLUMNS,
    NO_DLQ_POSITION,
    NO_IDENTITY,
    Row,
    RowBuilder,
    State,
    StateRows,
)
from agencydb.states import write_states
from agencydb.writes import stored_revisions, write_lines, write_tuples
from casebus import logs
from casebus.events import Event
from casebus.records import NotARecord, RecordKey
from casebus.revisions import Outcome, Result, Stored, revision_rule
from pipeline.items import (
    Candidate,
    Claimed,
    Decoded,
    Filtered,
    Foreseen,
    Invalid,
    Item,
    Prepared,
    Refused,
    Unchecked,
    carried_front,
)
from pipeline.prepare import Admit, prepare, prepare_claimed

log = logging.getLogger(__name__)


# Every rule an event of this kind breaks, or None (Inbound.check).
Validate = Callable[[Event, str], str | None]
Revisions = Mapping[RecordKey, Stored]  # record -> stored (revision, digest)


class Unforeseen(Exception):
    """Items the decode worker expected to lose (Foreseen: no rows) win in this batch:
    prepare them in full and apply the batch again (nothing was written)."""

    def __init__(self, indexes: list[int]) -> None:
        super().__init__(f"{len(indexes)} items foreseen to lose win")
        self.indexes = indexes


@dataclass(frozen=True, slots=True)
class Decisions:
    results: list[Result]  # one per item
    winners: dict[int, Prepared]  # item index -> the record's final state, by record


@cache
def row_builder(dialect: Dialect) -> RowBuilder:
    return RowBuilder(dialect)


def apply_batch(
    conn: Connection,
    items: Sequence[Item],
    *,
    admit: Admit | None = None,
    validate: Validate | None = None,
    now: datetime | None = None,
    origin: str = "sync",
    rewrite: bool = False,
    dlq_positions: Sequence[Row] | None = None,
    rows: RowBuilder | None = None,
) -> list[Result]:
    """Apply the items in order; return one Result per item.

    `admit(event, kind)` filters decoded items by subscription (items prepared ahead were
    filtered by the worker, with the same subscription); `validate` checks the Unchecked
    ones that would change a record. `origin` is logged with every item ("sync" or
    "replay"). `rewrite` (a replay repairing a database): a duplicate of the stored revision
    writes its state again, so rows edited by hand since are put back as the event says.
    `dlq_positions` (a redrive): per item, the DLQ record it came from, logged with it.
    `rows`: the agency's row builder (its personal-field opener); default: none.
    Raises Unforeseen (before writing anything) if a Foreseen item wins.
    """
    now = now or datetime.now(UTC)
    rows = rows or row_builder(conn.dialect)
    ready = [_prepared(item, admit, rows) for item in items]
    keys = {c.key for c in ready if isinstance(c, Prepared | Foreseen)}
    current = current_revisions(conn, keys)
    decided = decide(ready, current, validate=validate, rewrite=rewrite)
    states = {i: p.state for i, p in decided.winners.items()}
    write_states(conn, list(states.values()), rows=rows, now=now, stored=set(current))
    written = {i: _digest(state) for i, state in states.items()}
    dlq = dlq_positions or [NO_DLQ_POSITION] * len(ready)
    _log_events(conn, ready, decided.results, written, rows, now, origin, dlq)
    return decided.results


def _digest(state: State) -> str:
    """The state's digest: the decode worker's, or computed now (rows it did not make)."""
    if state.digest is not None:
        return state.digest
    assert isinstance(state, StateRows)  # COPY text comes with its digest
    return state_digest(state)


def decide(
    items: Sequence[Refused | Filtered | Candidate],
    current: Revisions,
    *,
    validate: Validate | None = None,
    rewrite: bool = False,
) -> Decisions:
    """The rule over one batch, in memory: each item's outcome and each record's winner."""
    revisions = dict(current)
    winners: dict[RecordKey, tuple[int, Prepared]] = {}  # the last winner of each record
    unforeseen: list[int] = []
    results: list[Result] = []
    for index, item in enumerate(items):
        if isinstance(item, Refused):
            results.append(Result(Outcome.REJECTED, item.reason, item.error_class))
            continue
        if isinstance(item, Filtered):
            results.append(Result(Outcome.FILTERED))
            continue
        key = item.key
        result = revision_rule(item.revision, item.digest, revisions.get(key))
        if result.outcome is Outcome.APPLIED:
            problem = _problem(item, validate)
            if problem is not None:
                result = Result(Outcome.REJECTED, problem, "ValidationError")
        repair = rewrite and result.outcome is Outcome.DUPLICATE
        if result.outcome is Outcome.APPLIED or repair:
            revisions[key] = (item.revision, item.digest)
            if isinstance(item, Foreseen):
                unforeseen.append(index)
            else:
                winners[key] = (index, item)
        elif result.outcome is Outcome.CONFLICT:
            prov = item.provenance
            log.error(
                "conflict on %s %s/%s at %s:%d@%d: %s",
                item.kind,
                item.owner,
                item.record_id,
                prov.topic,
                prov.partition,
                prov.offset,
                result.detail,
                extra=logs.at(prov, outcome=result.outcome.value, record_id=item.record_id),
            )
        results.append(result)
    if unforeseen:
        raise Unforeseen(unforeseen)
    return Decisions(results, dict(winners.values()))


def _problem(item: Candidate, validate: Validate | None) -> str | None:
    """Why an item that would change a record must not, or None."""
    validity = item.validity if isinstance(item, Prepared) else None
    if isinstance(validity, Invalid):
        return validity.problem
    if isinstance(validity, Unchecked) and validate is not None:
        return validate(validity.event, item.kind)
    return None  # valid, or foreseen (validated when prepared again)


def _prepared(item: Item, admit: Admit | None, rows: RowBuilder) -> Refused | Filtered | Candidate:
    if isinstance(item, Claimed):  # decided from its claim; decoded by the caller if it wins
        ahead = prepare_claimed(item, rows, admit, foresee=None)
        assert ahead is not None  # without `foresee`, every admitted event is foreseen
        return ahead
    if not isinstance(item, Decoded):
        return item
    try:
        return prepare(item, rows, admit)
    except NotARecord as exc:
        return Refused(item.provenance, "NotARecord", str(exc), item.event)


def current_revisions(conn: Connection, keys: set[RecordKey]) -> dict[RecordKey, tuple[int, str]]:
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
    items: Sequence[Refused | Filtered | Candidate],
    results: Sequence[Result],
    written: dict[int, str],  # item index -> digest of the state it wrote
    rows: RowBuilder,
    now: datetime,
    origin: str,
    dlq_positions: Sequence[Row],
) -> None:
    """One chained row per item (agencydb/chain.py), the head moved past them."""
    logged_at = rows.stamp("event_log", "logged_at", now)
    head = lock_head(conn)  # held to the commit: one writer at a time extends the chain
    previous = head.hash
    # PostgreSQL: rows as COPY text, their fronts mostly made by the decode worker.
    lines = rows.makes_lines
    out: list[Any] = []
    pairs = zip(items, results, dlq_positions, strict=True)
    for index, (item, result, dlq) in enumerate(pairs):
        detail = result.detail
        if detail is None and isinstance(item, Prepared):
            detail = item.state.personal  # which personal values were opened, sealed, erased
        tail = (result.outcome.value, detail, logged_at, origin, written.get(index), *dlq)
        if lines:
            front = _log_text(item, rows)
            previous = link_after(previous, front, tail)
            out.append(front[0] + rows.log_tail_line((*tail, previous)))
            continue
        log_head, identity = _log_front(item, rows)
        row = log_head + identity + tail
        previous = link(previous, row)
        out.append((*row, previous))
    (write_lines if lines else write_tuples)(conn, EVENT_LOG, LOG_COLUMNS, out)
    if out:
        position = conn.scalar(select(func.max(EVENT_LOG.c.id)))
        move_head(conn, head, int(position), previous, len(out))


def _log_text(item: Refused | Filtered | Candidate, rows: RowBuilder) -> LogText:
    """The item's event-log front as the decode worker made it, or made here."""
    made = None if isinstance(item, Refused) else item.log
    return made if made is not None else log_text(rows, *_log_front(item, rows))


def _log_front(item: Refused | Filtered | Candidate, rows: RowBuilder) -> tuple[Row, Row]:
    if (carried := carried_front(item)) is not None:
        return carried
    assert isinstance(item, Refused)
    # Refused before it could be decided on: the record it names, if it was decoded, but
    # no kind or digest.
    if item.columns is not None:
        return item.columns
    if item.event is None:
        return rows.log_head(item.provenance, None), NO_IDENTITY
    return rows.log_head(item.provenance, item.event), rows.log_identity(item.event)
