"""The apply rule, written once: live sync and replay both call `apply_batch`.

- a new (kind, owner, record_id) is inserted; a higher revision replaces the stored one;
- a lower revision is stale, the same revision with the same digest a duplicate: logged only;
- the same revision with a different digest is a conflict: kept out, alerted (ERROR log),
  and the caller sends it to the DLQ.

A batch is decided in memory, in delivery order, against the current revisions loaded in one
query, so two revisions of one record in one batch resolve as they would one by one; then
only the final state of each record is written (bulk upserts). Every item, whatever its
outcome, gets an event-log row. Nothing here commits: the caller owns the transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Connection

from casebus.events import Event
from services.sync.db.models import EventLogEntry, table_of
from services.sync.records import (
    NotARecord,
    RecordKey,
    content_digest,
    record_key,
    record_kind,
)
from services.sync.writes import insert_rows, stored_revisions, write_records

log = logging.getLogger(__name__)

EVENT_LOG = table_of(EventLogEntry)


class Outcome(StrEnum):
    APPLIED = "applied"
    STALE = "stale"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    REJECTED = "rejected"
    FILTERED = "filtered"


@dataclass(frozen=True, slots=True)
class Provenance:
    topic: str
    partition: int
    offset: int
    schema_id: int | None = None


@dataclass(frozen=True, slots=True)
class Ahead:
    """What a decode worker already worked out for an event, with the very functions apply
    would call (record_kind, content_digest, admit, check), so apply need not redo it."""

    kind: str
    digest: str
    admitted: bool
    checked: bool  # False: not validated ahead (it looked stale); apply checks it if needed
    problem: str | None = None  # the validator's verdict when checked


@dataclass(frozen=True, slots=True)
class Incoming:
    """One consumed event: decoded (`event`), or rejected before apply (`error` set)."""

    provenance: Provenance
    event: Event | None
    error: str | None = None
    ahead: Ahead | None = None


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    detail: str | None = None
    error_class: str | None = None  # why a rejected event was rejected, for the DLQ


# Checks an event that is about to be applied; returns why it must not be, or None.
# Only events that would change a record are checked: a stale or duplicate one changes
# nothing whatever its content, so validating it would be wasted work.
Check = Callable[[Event, str], str | None]


@dataclass(slots=True)
class _Prepared:
    kind: str
    key: RecordKey
    digest: str


def apply_batch(
    conn: Connection,
    items: Sequence[Incoming],
    *,
    admit: Callable[[Event, str], bool] | None = None,
    check: Check | None = None,
    now: datetime | None = None,
) -> list[Result]:
    """Apply the items in order; return one Result per item.

    `admit(event, kind)` filters by subscription; `check(event, kind)` validates an event
    before it is applied (a failure is `rejected`, with the reason).
    """
    now = now or datetime.now(UTC)
    prepared: list[_Prepared | Result] = [_prepare(item, admit) for item in items]
    keys = {p.key for p in prepared if isinstance(p, _Prepared)}
    current = _current_revisions(conn, keys)
    stored = set(current)  # in the database before this batch
    winners: dict[RecordKey, tuple[Event, _Prepared]] = {}
    results: list[Result] = []
    for item, prep in zip(items, prepared, strict=True):
        if isinstance(prep, Result):
            results.append(prep)
            continue
        assert item.event is not None
        result = _decide(item.event, prep, current.get(prep.key))
        if result.outcome is Outcome.APPLIED and check is not None:
            ahead = item.ahead
            if ahead is not None and ahead.checked:
                problem = ahead.problem
            else:
                problem = check(item.event, prep.kind)
            if problem is not None:
                result = Result(Outcome.REJECTED, problem, "ValidationError")
        if result.outcome is Outcome.APPLIED:
            current[prep.key] = (int(item.event["revision"]), prep.digest)
            winners[prep.key] = (item.event, prep)
        elif result.outcome is Outcome.CONFLICT:
            log.error(
                "conflict on %s %s/%s at %s:%d@%d: %s",
                prep.kind,
                prep.key[1],
                prep.key[2],
                item.provenance.topic,
                item.provenance.partition,
                item.provenance.offset,
                result.detail,
            )
        results.append(result)
    states = [(event, p.kind, p.digest) for event, p in winners.values()]
    write_records(conn, states, now=now, stored=stored)
    _log_events(conn, items, prepared, results, now)
    return results


def _prepare(item: Incoming, admit: Callable[[Event, str], bool] | None) -> _Prepared | Result:
    if item.event is None or item.error is not None:
        return Result(Outcome.REJECTED, item.error or "not decoded")
    ahead = item.ahead
    if ahead is not None:
        if admit is not None and not ahead.admitted:
            return Result(Outcome.FILTERED)
        return _Prepared(ahead.kind, record_key(item.event, ahead.kind), ahead.digest)
    try:
        kind = record_kind(item.event)
    except NotARecord as exc:
        return Result(Outcome.REJECTED, str(exc))
    if admit is not None and not admit(item.event, kind):
        return Result(Outcome.FILTERED)
    return _Prepared(kind, record_key(item.event, kind), content_digest(item.event, kind))


def _decide(event: Event, prep: _Prepared, stored: tuple[int, str] | None) -> Result:
    revision = int(event["revision"])
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
    prepared: Sequence[_Prepared | Result],
    results: Sequence[Result],
    now: datetime,
) -> None:
    rows = []
    for item, prep, result in zip(items, prepared, results, strict=True):
        event = item.event or {}
        prov = item.provenance
        row = {
            "topic": prov.topic,
            "partition": prov.partition,
            "offset": prov.offset,
            "schema_id": prov.schema_id,
            "event_id": str(event["event_id"]) if "event_id" in event else None,
            "producer": event.get("producer"),
            "event_type": event.get("event_type"),
            "kind": None,
            "owner": None,
            "record_id": None,
            "revision": None,
            "case_id": None,
            "occurred_at": None,
            "digest": None,
            "outcome": result.outcome.value,
            "detail": result.detail,
            "logged_at": now,
        }
        if result.outcome is not Outcome.FILTERED:  # not ours to know which record it was
            for name in ("owner", "record_id", "revision", "case_id", "occurred_at"):
                row[name] = event.get(name)
        if isinstance(prep, _Prepared):
            row["kind"], row["digest"] = prep.kind, prep.digest
        rows.append(row)
    insert_rows(conn, EVENT_LOG, rows)
