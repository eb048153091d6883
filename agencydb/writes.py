"""Bulk writes of record states: one statement per table and batch, each dialect's own.

Rows arrive as tuples in a given column order with values already bind-processed
(`write_tuples`, fed by agencydb/rows.py), as lines of PostgreSQL's COPY text made by the
decode worker (`write_lines`, agencydb/copytext.py), or as dicts keyed by column name
(`upsert`), processed here; only how they reach the database differs by dialect:
- SQLite: a driver-level executemany of one statement (in process, no round trips);
- PostgreSQL: COPY (for upserts into a temporary stage, merged by one INSERT ... SELECT ...
  ON CONFLICT); a handful of rows go as one INSERT ... SELECT FROM unnest(arrays) instead.
Values go through the bind processors SQLAlchemy would apply (looked up once per table,
columns and dialect, not per row), so what is stored is what Core would store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Connection, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from agencydb.types import json_text

# From this many rows PostgreSQL gets COPY (~10 us a row) instead of one unnest statement
# (one round trip, but ~25 us a row of server-side array parsing): small batches stay cheap.
_COPY_FROM = 64
_CHUNK = 900  # bound parameters per IN list, below SQLite's old limit of 999

Processor = Callable[[Any], Any]
# PostgreSQL column types (as SQLAlchemy compiles them, without length or precision) -> the
# psycopg type their bound values are dumped as in COPY's text format; any other: text.
_COPY_TYPES = {
    "BIGINT": "int8",
    "INTEGER": "int8",  # text format: the server parses the digits for the column's type
    "SMALLINT": "int8",
    "NUMERIC": "numeric",
    "DATE": "date",
    "BOOLEAN": "bool",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "TIMESTAMP WITHOUT TIME ZONE": "timestamp",
    "TIMESTAMP": "timestamp",
}


@dataclass(frozen=True, slots=True)
class _Plan:
    """One table on one dialect: column order, bind processors, and the INSERT prefix."""

    table: str
    columns: tuple[str, ...]
    processors: tuple[tuple[int, Processor], ...]
    sql: str  # INSERT ... VALUES / SELECT FROM unnest, without the ON CONFLICT clause
    names: str  # the quoted column list
    # PostgreSQL: the type psycopg dumps each column's values as in a COPY (set_types), so
    # that it picks a dumper per column once instead of per value (a third less CPU a row).
    copy_types: tuple[str, ...]


def plan(table: Table, dialect: Dialect, columns: tuple[str, ...] | None = None) -> _Plan:
    """How to write these columns of `table` (default: all but a serial id) on `dialect`."""
    if columns is None:
        serial = table.autoincrement_column  # the event log's id: the database numbers rows
        columns = tuple(c.name for c in table.columns if c is not serial)
    return _plan(table, dialect, columns)


@cache
def _plan(table: Table, dialect: Dialect, columns: tuple[str, ...]) -> _Plan:
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    processors: list[tuple[int, Processor]] = []
    arrays: list[str] = []
    selected: list[str] = []
    copy_types: list[str] = []
    for i, name in enumerate(columns):
        col = table.c[name]
        if isinstance(col.type, JSON):  # text; on PostgreSQL cast to jsonb by the server
            processors.append((i, json_text))
            arrays.append("%s::TEXT[]")
            selected.append(f"{quote(name)}::JSONB")
            copy_types.append("text")
            continue
        proc = col.type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None:
            processors.append((i, proc))
        compiled = col.type.dialect_impl(dialect).compile(dialect=dialect)
        arrays.append(f"%s::{compiled}[]")
        selected.append(quote(name))
        copy_types.append(_COPY_TYPES.get(compiled.split("(")[0], "text"))
    if dialect.name == "postgresql":
        # WITH ORDINALITY + ORDER BY: rows get serial ids in the order they were given.
        sql = (
            f"INSERT INTO {quote(table.name)} ({names}) SELECT {', '.join(selected)} "
            f"FROM unnest({', '.join(arrays)}) WITH ORDINALITY AS u({names}, ord_) ORDER BY ord_"
        )
    else:
        sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({', '.join('?' * len(columns))})"
    return _Plan(quote(table.name), columns, tuple(processors), sql, names, tuple(copy_types))


def _on_conflict(dialect: Dialect, p: _Plan, keys: Sequence[str] | None, update: bool) -> str:
    if keys is None:
        return ""
    quote = dialect.identifier_preparer.quote
    target = ", ".join(quote(k) for k in keys)
    if not update:
        return f" ON CONFLICT ({target}) DO NOTHING"
    sets = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in p.columns if c not in keys)
    return f" ON CONFLICT ({target}) DO UPDATE SET {sets}"


def write_tuples(
    conn: Connection,
    table: Table,
    columns: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
    keys: Sequence[str] | None = None,
    *,
    update: bool = False,
) -> None:
    """Write rows given as tuples in `columns` order, values already bind-processed
    (agencydb.rows); with `keys`, ON CONFLICT (keys) DO UPDATE (update) or DO NOTHING."""
    if not rows:
        return
    dialect = conn.dialect
    p = plan(table, dialect, columns)
    suffix = _on_conflict(dialect, p, keys, update)
    if dialect.name != "postgresql":
        conn.exec_driver_sql(p.sql + suffix, list(rows))
    elif len(rows) < _COPY_FROM:  # PostgreSQL wants one array per column
        conn.exec_driver_sql(p.sql + suffix, tuple(map(list, zip(*rows, strict=True))))
    else:
        _copy(conn, p, rows, suffix)


def write_lines(
    conn: Connection,
    table: Table,
    columns: tuple[str, ...],
    lines: Sequence[bytes],
    keys: Sequence[str] | None = None,
    *,
    update: bool = False,
) -> None:
    """As write_tuples, for rows already COPY text (PostgreSQL; each item one or more
    whole lines): COPY, whatever their number."""
    if not lines:
        return
    p = plan(table, conn.dialect, columns)
    _copy(conn, p, b"".join(lines), _on_conflict(conn.dialect, p, keys, update))


def _write(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str] | None,
    update: bool,
) -> None:
    if not rows:
        return
    p = plan(table, conn.dialect)
    values = [list(map(itemgetter(name), rows)) for name in p.columns]
    for i, proc in p.processors:
        values[i] = [None if v is None else proc(v) for v in values[i]]
    tuples = list(zip(*values, strict=True))
    write_tuples(conn, table, p.columns, tuples, keys, update=update)


def _copy(conn: Connection, p: _Plan, rows: Iterable[tuple[Any, ...]] | bytes, suffix: str) -> None:
    """COPY the rows (or their COPY text, UTF-8) in: straight into the table, or (ON
    CONFLICT) through a staging table merged with one INSERT ... SELECT. The stage is emptied
    by the merge itself, so a second write to the same table in one transaction starts from
    an empty stage."""
    target = p.table
    if suffix:
        target = f"_stage_{p.table.strip(chr(34))}"
        ddl = f"CREATE TEMP TABLE IF NOT EXISTS {target} (LIKE {p.table}) ON COMMIT DELETE ROWS"
    statement = f"COPY {target} ({p.names}) FROM STDIN"
    with _raw_cursor(conn, statement) as cursor:
        if suffix:
            cursor.execute(ddl)
        if isinstance(rows, bytes) and cursor.connection.info.encoding != "utf-8":
            cursor.execute("SET LOCAL client_encoding TO 'UTF8'")  # the text's encoding
        with cursor.copy(statement) as copy:
            if isinstance(rows, bytes):
                copy.write(rows)
            else:
                copy.set_types(p.copy_types)
                for row in rows:
                    copy.write_row(row)
        if suffix:
            cursor.execute(
                f"WITH moved AS (DELETE FROM {target} RETURNING {p.names}) "
                f"INSERT INTO {p.table} ({p.names}) SELECT {p.names} FROM moved{suffix}"
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
    on PostgreSQL one array parameter, the rows locked until the transaction ends (another
    sync process of the agency deciding on the same record waits, then reads what this one
    wrote: no lost update); on SQLite (one writer) IN lists of at most _CHUNK ids."""
    head = "SELECT kind, owner, record_id, revision, digest FROM records WHERE record_id"
    if conn.dialect.name == "postgresql":
        yield from conn.exec_driver_sql(f"{head} = ANY(%s) FOR UPDATE", (list(record_ids),))
        return
    for start in range(0, len(record_ids), _CHUNK):
        chunk = _padded(tuple(record_ids[start : start + _CHUNK]))
        yield from conn.exec_driver_sql(f"{head} IN ({', '.join('?' * len(chunk))})", chunk)


def _padded(chunk: tuple[str, ...]) -> tuple[str, ...]:
    """The chunk, its last id repeated up to the next power of two (or _CHUNK): a dozen
    statement texts in all. Each length is a statement of its own, which the driver keeps
    prepared (128 per connection, 23 MB for lists of 773 to 900 ids): the sync's memory grew
    with every batch's last chunk of another length."""
    size = min(1 << (len(chunk) - 1).bit_length(), _CHUNK)
    return chunk + chunk[-1:] * (size - len(chunk))


def upsert(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE every other column, in one statement.

    Rows must not repeat a key (PostgreSQL refuses to update one row twice in a statement).
    """
    _write(conn, table, rows, keys, update=True)
