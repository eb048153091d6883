"""Store the state each record reached in a batch: its `records` row, payload, case and lead
children, in one bulk statement per table.

States come as rows of values (StateRows) or, from a PostgreSQL sync's decode worker, as
lines of COPY text (StateLines, agencydb/copytext.py); a batch holding any lines is written
as lines (the few states the writer prepared itself are formatted here), any other as
values. The two differ only in how a row is stamped and sent."""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, bindparam, delete

from agencydb.models import LeadEvidence, LeadItem
from agencydb.rows import (
    CASE_COLUMNS,
    CASES,
    EVIDENCE_COLUMNS,
    ITEM_COLUMNS,
    LEAD_EVIDENCE,
    LEAD_ITEMS,
    PAYLOAD_COLUMNS,
    PAYLOAD_TABLES,
    RECORD_COLUMNS,
    RECORDS,
    Row,
    RowBuilder,
    State,
    StateLines,
    StateRows,
)
from agencydb.writes import write_lines, write_tuples

_RECORD_KEY = ("kind", "owner", "record_id")
_PAYLOAD_KEY = ("owner", "record_id")
_DELETE_CHILDREN = {
    model: delete(model).where(model.owner == bindparam("o"), model.record_id == bindparam("r"))
    for model in (LeadItem, LeadEvidence)
}


def write_states(
    conn: Connection,
    states: Sequence[State],
    *,
    rows: RowBuilder,
    now: datetime,
    stored: Container[tuple[str, str, str]] | None = None,
) -> None:
    """Store each state as its record's current one (at most one state per record).

    `stored`: the (kind, owner, record_id) keys in the database before this write (None:
    unknown); a lead not among them has no old items or evidence to delete."""
    if not states:
        return
    # One order for every writer (records by key, cases by id), so that two sync processes
    # of one agency writing the same rows wait for each other instead of deadlocking.
    states = sorted(states, key=_key)
    if any(isinstance(s, StateLines) for s in states):
        lines = [rows.as_lines(s) for s in states]
        stamps = (
            rows.stamp_line("records", "applied_at", now),
            rows.stamp_line("cases", "first_seen_at", now),
        )
        _write(conn, lines, stamps, stored, write_lines)
    else:
        stamps = (
            rows.stamp("records", "applied_at", now),
            rows.stamp("cases", "first_seen_at", now),
        )
        _write(conn, cast(list[StateRows], states), stamps, stored, write_tuples)


def _write(
    conn: Connection,
    states: Sequence[StateRows] | Sequence[StateLines],
    stamps: tuple[Any, Any],  # applied_at, first_seen_at: as values, or as COPY text
    stored: Container[tuple[str, str, str]] | None,
    write: Callable[..., None],  # write_tuples or write_lines
) -> None:
    applied_at, first_seen_at = stamps
    cases: dict[Any, Any] = {}
    for s in states:
        case_id = _case_id(s)
        if case_id not in cases:
            cases[case_id] = _ended(s.case, first_seen_at)
    # Records new to the database are plain inserts: on PostgreSQL a COPY straight into the
    # table instead of a COPY into a stage merged with ON CONFLICT (half the server's work).
    # Only a second sync process inserting the same record at the same moment can make one
    # "new" after all: its unique violation is a transient fault (pipeline/checkpoint.py), the batch
    # is retried and finds the row.
    new = [s for s in states if stored is not None and _key(s) not in stored]
    known = [s for s in states if stored is None or _key(s) in stored]
    for group, update in ((new, None), (known, _RECORD_KEY)):
        records = [_ended(s.record, applied_at) for s in group]
        write(conn, RECORDS, RECORD_COLUMNS, records, update, update=True)
        payloads: dict[str, list[Any]] = {}
        for s in group:
            payloads.setdefault(s.kind, []).append(s.payload)
        for kind, payload_rows in payloads.items():
            keys = None if update is None else _PAYLOAD_KEY
            table = PAYLOAD_TABLES[kind]
            write(conn, table, PAYLOAD_COLUMNS[kind], payload_rows, keys, update=True)
    case_rows = [cases[case_id] for case_id in sorted(cases)]
    write(conn, CASES, CASE_COLUMNS, case_rows, ("case_id",))
    leads = [s for s in states if s.kind == "lead"]
    if leads:
        _delete_lead_children(conn, [_key(s) for s in leads], stored)
        write(conn, LEAD_ITEMS, ITEM_COLUMNS, _children([s.items for s in leads]))
        write(conn, LEAD_EVIDENCE, EVIDENCE_COLUMNS, _children([s.evidence for s in leads]))


def _ended(row: Row | bytes, stamp: Any) -> Any:
    """A record's or a case's row with the writer's stamp as its last column."""
    return row + b"\t" + stamp if isinstance(row, bytes) else (*row, stamp)


def _children(parts: Sequence[tuple[Row, ...] | bytes]) -> list[Any]:
    """Each lead's items (or evidence) as one list: rows, or each lead's lines of text."""
    out: list[Any] = []
    for part in parts:
        if isinstance(part, bytes):
            out += [part] if part else []
        else:
            out += part
    return out


def _key(state: State) -> tuple[str, str, str]:
    if isinstance(state, StateLines):
        return (state.kind, state.owner, state.record_id)
    return (state.kind, state.record[1], state.record[2])


def _case_id(state: State) -> Any:
    return state.case_id if isinstance(state, StateLines) else state.case[0]


def _delete_lead_children(
    conn: Connection,
    leads: Sequence[tuple[str, str, str]],
    stored: Container[tuple[str, str, str]] | None,
) -> None:
    """Items and evidence are part of a lead's state: the stored revision's go (the new
    revision's are written after)."""
    # One DELETE per stored lead, `owner = ? AND record_id = ?` (executemany): an index lookup
    # whatever the planner knows. With `record_id IN (list)` PostgreSQL, its statistics on a
    # fresh table missing, estimated 98 rows for the owner and scanned all its children
    # (90,000 index entries per DELETE at 200,000 events: ~1.5 s per batch).
    old = [{"o": key[1], "r": key[2]} for key in leads if stored is None or key in stored]
    if old:
        for model in (LeadItem, LeadEvidence):
            conn.execute(_DELETE_CHILDREN[model], old)
