"""Bulk writes of record states: one statement per table and batch, each dialect's own.

The apply path hands rows (dicts keyed by column name) to `insert_rows`, `upsert` and
`insert_missing`; only how they reach the database differs by dialect:
- SQLite: a driver-level executemany of one statement (in process, no round trips);
- PostgreSQL: COPY (for upserts into a temporary stage, merged by one INSERT ... SELECT ...
  ON CONFLICT); a handful of rows go as one INSERT ... SELECT FROM unnest(arrays) instead.
Values go through the bind processors SQLAlchemy would apply (looked up once per table and
dialect, not per row), so what is stored is what Core would store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Connection, Table, bindparam, delete
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from casebus.events import Event
from services.sync.db.models import (
    PAYLOAD_MODELS,
    Case,
    LeadEvidence,
    LeadItem,
    Record,
    table_of,
)
from services.sync.records import payload_of

_KEY = ("owner", "record_id")
# From this many rows PostgreSQL gets COPY (~10 us a row) instead of one unnest statement
# (one round trip, but ~25 us a row of server-side array parsing): small batches stay cheap.
_COPY_FROM = 64
_CHUNK = 900  # bound parameters per IN list, below SQLite's old limit of 999

RECORDS = table_of(Record)
CASES = table_of(Case)
LEAD_ITEMS = table_of(LeadItem)
LEAD_EVIDENCE = table_of(LeadEvidence)
_DELETE_CHILDREN = {
    model: delete(model).where(model.owner == bindparam("o"), model.record_id == bindparam("r"))
    for model in (LeadItem, LeadEvidence)
}
PAYLOAD_TABLES: dict[str, Table] = {kind: table_of(m) for kind, m in PAYLOAD_MODELS.items()}
_PAYLOAD_COLUMNS = {
    kind: tuple(c.name for c in table.columns if c.name not in _KEY)
    for kind, table in PAYLOAD_TABLES.items()
}

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Plan:
    """One table on one dialect: column order, bind processors, and the INSERT prefix."""

    table: str
    columns: tuple[str, ...]
    processors: tuple[tuple[int, Processor], ...]
    sql: str  # INSERT ... VALUES / SELECT FROM unnest, without the ON CONFLICT clause
    names: str  # the quoted column list


@cache
def _plan(table: Table, dialect: Dialect) -> _Plan:
    quote = dialect.identifier_preparer.quote
    serial = table.autoincrement_column  # the event log's id: the database numbers rows
    columns = tuple(c.name for c in table.columns if c is not serial)
    names = ", ".join(quote(c) for c in columns)
    processors: list[tuple[int, Processor]] = []
    arrays: list[str] = []
    selected: list[str] = []
    for i, name in enumerate(columns):
        col = table.c[name]
        if dialect.name == "postgresql" and isinstance(col.type, JSON):
            processors.append((i, json.dumps))  # sent as text, cast to jsonb by the server
            arrays.append("%s::TEXT[]")
            selected.append(f"{quote(name)}::JSONB")
            continue
        proc = col.type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None:
            processors.append((i, proc))
        arrays.append(f"%s::{col.type.dialect_impl(dialect).compile(dialect=dialect)}[]")
        selected.append(quote(name))
    if dialect.name == "postgresql":
        # WITH ORDINALITY + ORDER BY: rows get serial ids in the order they were given.
        sql = (
            f"INSERT INTO {quote(table.name)} ({names}) SELECT {', '.join(selected)} "
            f"FROM unnest({', '.join(arrays)}) WITH ORDINALITY AS u({names}, ord_) ORDER BY ord_"
        )
    else:
        sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({', '.join('?' * len(columns))})"
    return _Plan(quote(table.name), columns, tuple(processors), sql, names)


def _on_conflict(dialect: Dialect, plan: _Plan, keys: Sequence[str] | None, update: bool) -> str:
    if keys is None:
        return ""
    quote = dialect.identifier_preparer.quote
    target = ", ".join(quote(k) for k in keys)
    if not update:
        return f" ON CONFLICT ({target}) DO NOTHING"
    sets = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in plan.columns if c not in keys)
    return f" ON CONFLICT ({target}) DO UPDATE SET {sets}"


def _write(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str] | None,
    update: bool,
) -> None:
    if not rows:
        return
    dialect = conn.dialect
    plan = _plan(table, dialect)
    suffix = _on_conflict(dialect, plan, keys, update)
    # Column-wise: each processor runs over one list, and PostgreSQL wants one array per column.
    columns: list[Any] = list(zip(*map(itemgetter(*plan.columns), rows), strict=True))
    for i, proc in plan.processors:
        columns[i] = [None if v is None else proc(v) for v in columns[i]]
    if dialect.name != "postgresql":
        conn.exec_driver_sql(plan.sql + suffix, list(zip(*columns, strict=True)))
    elif len(rows) < _COPY_FROM:
        conn.exec_driver_sql(plan.sql + suffix, tuple(list(c) for c in columns))
    else:
        _copy(conn, plan, zip(*columns, strict=True), suffix)


def _copy(conn: Connection, plan: _Plan, rows: Iterable[tuple[Any, ...]], suffix: str) -> None:
    """COPY the rows in: straight into the table, or (ON CONFLICT) through a staging table
    merged with one INSERT ... SELECT. The stage is emptied by the merge itself, so a second
    write to the same table in one transaction starts from an empty stage."""
    target = plan.table
    if suffix:
        target = f"_stage_{plan.table.strip(chr(34))}"
        ddl = f"CREATE TEMP TABLE IF NOT EXISTS {target} (LIKE {plan.table}) ON COMMIT DELETE ROWS"
    statement = f"COPY {target} ({plan.names}) FROM STDIN"
    with _raw_cursor(conn, statement) as cursor:
        if suffix:
            cursor.execute(ddl)
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        if suffix:
            cursor.execute(
                f"WITH moved AS (DELETE FROM {target} RETURNING {plan.names}) "
                f"INSERT INTO {plan.table} ({plan.names}) SELECT {plan.names} FROM moved{suffix}"
            )


@contextmanager
def _raw_cursor(conn: Connection, statement: str) -> Iterator[Any]:
    """A driver cursor in the connection's transaction; driver errors come out as
    SQLAlchemy's (OperationalError etc.), as they would from conn.execute, so the consumer
    tells a lost database (retry) from a bad row (DLQ) the same way on every path."""
    dialect = conn.dialect
    dbapi_conn = conn.connection.dbapi_connection
    assert dbapi_conn is not None
    cursor = dbapi_conn.cursor()
    try:
        yield cursor
    except dialect.loaded_dbapi.Error as exc:
        disconnected = dialect.is_disconnect(exc, dbapi_conn, cursor)
        if disconnected:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            statement,
            None,
            exc,
            dialect.loaded_dbapi.Error,
            connection_invalidated=disconnected,
            dialect=dialect,
        ) from exc
    finally:
        cursor.close()


def stored_revisions(conn: Connection, record_ids: Sequence[str]) -> Iterator[Any]:
    """(kind, owner, record_id, revision, digest) of every stored record with one of these ids:
    on PostgreSQL one array parameter, on SQLite IN lists of at most _CHUNK ids."""
    head = "SELECT kind, owner, record_id, revision, digest FROM records WHERE record_id"
    if conn.dialect.name == "postgresql":
        yield from conn.exec_driver_sql(f"{head} = ANY(%s)", (list(record_ids),))
        return
    for start in range(0, len(record_ids), _CHUNK):
        chunk = tuple(record_ids[start : start + _CHUNK])
        yield from conn.exec_driver_sql(f"{head} IN ({', '.join('?' * len(chunk))})", chunk)


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Plain INSERT of every row (tables without conflicts: event log, lead children)."""
    _write(conn, table, rows, None, update=False)


def upsert(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE every other column, in one statement.

    Rows must not repeat a key (PostgreSQL refuses to update one row twice in a statement).
    """
    _write(conn, table, rows, keys, update=True)


def insert_missing(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> None:
    _write(conn, table, rows, keys, update=False)


def write_records(
    conn: Connection,
    states: Iterable[tuple[Event, str, str]],
    *,
    now: datetime,
    stored: Container[tuple[str, str, str]] | None = None,
) -> None:
    """Store each (event, kind, digest) as its record's current state (one per record).

    `stored`: the (kind, owner, record_id) keys already in the database before this write
    (None: unknown); a lead not among them has no old items or evidence to delete."""
    records: list[dict[str, Any]] = []
    payloads: dict[str, list[dict[str, Any]]] = {kind: [] for kind in PAYLOAD_TABLES}
    cases: dict[str, dict[str, Any]] = {}
    leads: list[tuple[str, str, dict[str, Any], bool]] = []
    for event, kind, digest in states:
        owner, record_id = str(event["owner"]), str(event["record_id"])
        records.append(
            {
                "kind": kind,
                "owner": owner,
                "record_id": record_id,
                "revision": int(event["revision"]),
                "digest": digest,
                "event_type": str(event["event_type"]),
                "event_id": str(event["event_id"]),
                "case_id": event["case_id"],
                "region": event["region"],
                "handling": event["handling"],
                "shared_with": list(event["shared_with"]),
                "occurred_at": event["occurred_at"],
                "applied_at": now,
            }
        )
        payload = payload_of(event, kind)
        row = {name: payload.get(name) for name in _PAYLOAD_COLUMNS[kind]}
        row["owner"], row["record_id"] = owner, record_id
        payloads[kind].append(row)
        cases.setdefault(
            event["case_id"],
            {"case_id": event["case_id"], "region": event["region"], "first_seen_at": now},
        )
        if kind == "lead":
            known = stored is None or (kind, owner, record_id) in stored
            leads.append((owner, record_id, payload, known))
    upsert(conn, RECORDS, records, ("kind", "owner", "record_id"))
    insert_missing(conn, CASES, list(cases.values()), ("case_id",))
    for kind, rows in payloads.items():
        upsert(conn, PAYLOAD_TABLES[kind], rows, _KEY)
    _replace_lead_children(conn, leads)


def _replace_lead_children(
    conn: Connection, leads: Sequence[tuple[str, str, dict[str, Any], bool]]
) -> None:
    """Items and evidence are part of the lead's state: replace them with the new revision's."""
    if not leads:
        return
    # One DELETE per stored lead, `owner = ? AND record_id = ?` (executemany): an index lookup
    # whatever the planner knows. With `record_id IN (list)` PostgreSQL, its statistics on a
    # fresh table missing, estimated 98 rows for the owner and scanned all its children
    # (90,000 index entries per DELETE at 200,000 events: ~1.5 s per batch).
    old = [{"o": owner, "r": record_id} for owner, record_id, _, known in leads if known]
    if old:
        for model in (LeadItem, LeadEvidence):
            conn.execute(_DELETE_CHILDREN[model], old)
    items: list[dict[str, Any]] = []
    evidence: list[dict[str, Any]] = []
    for owner, record_id, payload, _ in leads:
        for position, item in enumerate(payload["items"]):
            items.append({"owner": owner, "record_id": record_id, "position": position, **item})
        for position, proof in enumerate(payload["evidence"]):
            evidence.append({"owner": owner, "record_id": record_id, "position": position, **proof})
    insert_rows(conn, LEAD_ITEMS, items)
    insert_rows(conn, LEAD_EVIDENCE, evidence)
