"""Store the state each record reached in a batch: its `records` row, payload, case and lead
children, in one bulk statement per table."""

from __future__ import annotations

from collections.abc import Container, Sequence
from datetime import datetime
from typing import Any

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
    StateRows,
)
from agencydb.writes import write_tuples

_RECORD_KEY = ("kind", "owner", "record_id")
_PAYLOAD_KEY = ("owner", "record_id")
_DELETE_CHILDREN = {
    model: delete(model).where(model.owner == bindparam("o"), model.record_id == bindparam("r"))
    for model in (LeadItem, LeadEvidence)
}


def write_states(
    conn: Connection,
    states: Sequence[StateRows],
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
    applied_at = rows.stamp("records", "applied_at", now)
    first_seen_at = rows.stamp("cases", "first_seen_at", now)
    cases: dict[Any, Row] = {}
    for s in states:
        if s.case[0] not in cases:
            cases[s.case[0]] = (*s.case, first_seen_at)
    # Records new to the database are plain inserts: on PostgreSQL a COPY straight into the
    # table instead of a COPY into a stage merged with ON CONFLICT (half the server's work).
    # Only a second sync process inserting the same record at the same moment can make one
    # "new" after all: its unique violation is a transient fault (pipeline/checkpoint.py), the batch
    # is retried and finds the row.
    new = [s for s in states if stored is not None and _key(s) not in stored]
    known = [s for s in states if stored is None or _key(s) in stored]
    for group, update in ((new, None), (known, _RECORD_KEY)):
        records = [(*s.record, applied_at) for s in group]
        write_tuples(conn, RECORDS, RECORD_COLUMNS, records, update, update=True)
        payloads: dict[str, list[Row]] = {}
        for s in group:
            payloads.setdefault(s.kind, []).append(s.payload)
        for kind, payload_rows in payloads.items():
            keys = None if update is None else _PAYLOAD_KEY
            table = PAYLOAD_TABLES[kind]
            write_tuples(conn, table, PAYLOAD_COLUMNS[kind], payload_rows, keys, update=True)
    case_rows = [cases[case_id] for case_id in sorted(cases)]
    write_tuples(conn, CASES, CASE_COLUMNS, case_rows, ("case_id",))
    _replace_lead_children(conn, [s for s in states if s.kind == "lead"], stored)


def _key(state: StateRows) -> tuple[str, str, str]:
    return (state.kind, state.record[1], state.record[2])


def _replace_lead_children(
    conn: Connection, leads: Sequence[StateRows], stored: Container[tuple[str, str, str]] | None
) -> None:
    """Items and evidence are part of the lead's state: replace them with the new revision's."""
    if not leads:
        return
    # One DELETE per stored lead, `owner = ? AND record_id = ?` (executemany): an index lookup
    # whatever the planner knows. With `record_id IN (list)` PostgreSQL, its statistics on a
    # fresh table missing, estimated 98 rows for the owner and scanned all its children
    # (90,000 index entries per DELETE at 200,000 events: ~1.5 s per batch).
    old = [
        {"o": s.record[1], "r": s.record[2]} for s in leads if stored is None or _key(s) in stored
    ]
    if old:
        for model in (LeadItem, LeadEvidence):
            conn.execute(_DELETE_CHILDREN[model], old)
    items = [item for s in leads for item in s.items]
    evidence = [proof for s in leads for proof in s.evidence]
    write_tuples(conn, LEAD_ITEMS, ITEM_COLUMNS, items)
    write_tuples(conn, LEAD_EVIDENCE, EVIDENCE_COLUMNS, evidence)
