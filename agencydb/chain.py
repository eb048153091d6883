"""The tamper-evident event log: every row hashed with the row before it.

Each event-log row carries `chain` = sha256(previous row's chain + the row's values), and
an applied row carries `state_digest`, a digest of the rows it wrote for its record (so
that a hand edit of a record, not only of the log, shows: `casebus audit verify`). Values
are hashed in one canonical form whichever side they come from — the tuples the writer
binds (SQLite: instants and decimals as text) or the values read back (aware datetimes,
Decimals, lists) — so the audit recomputes exactly what the writer hashed.

The head (last position and hash, and the chain's id) is one row, `audit_head`, locked by
the writer for the rest of its transaction: two sync processes of one agency append to the
chain one batch after the other, never both onto the same head.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, Connection, Date, DateTime, Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from agencydb.models import AuditHead, table_of
from agencydb.rows import (
    EVENT_LOG,
    EVIDENCE_COLUMNS,
    ITEM_COLUMNS,
    LEAD_EVIDENCE,
    LEAD_ITEMS,
    LOG_COLUMNS,
    LOG_DLQ,
    LOG_HEAD,
    LOG_IDENTITY,
    PAYLOAD_COLUMNS,
    PAYLOAD_TABLES,
    RECORD_COLUMNS,
    RECORDS,
    Row,
    RowBuilder,
    StateRows,
)
from agencydb.types import Money

GENESIS = "0" * 64
HEAD = table_of(AuditHead)
Normal = Callable[[Any], Any]


def _instant(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is UTC:  # what the decoder gives (PostgreSQL's rows): drop "+00:00"
            return value.isoformat(" ", "microseconds")[:26]
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(" ", "microseconds")
    return value  # SQLite's bound text is already this form


def _day(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


_SCALE = Decimal("0.000001")  # Money's scale: PostgreSQL gives back 0.36 as 0.360000


def _decimal(value: Any) -> Any:
    return None if value is None else str(Decimal(value).quantize(_SCALE))


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _bool(value: Any) -> Any:
    return None if value is None else bool(value)


def _same(value: Any) -> Any:
    return value


def _normal_for(column: Any) -> Normal:
    kind = column.type
    if isinstance(kind, Money):
        return _decimal
    kind = getattr(kind, "impl", kind)  # a TypeDecorator (UtcDateTime): the type it stores
    if isinstance(kind, DateTime):
        return _instant
    if isinstance(kind, Date):
        return _day
    if isinstance(kind, JSON):
        return _json
    if isinstance(kind, Boolean):
        return _bool
    return _same


@dataclass(frozen=True)
class Canon:
    """The canonical form of rows of one table in one column order."""

    normals: tuple[Normal, ...]
    # The columns whose values change (most are hashed as they are): per-row work is
    # theirs alone (every event's log row and every applied state is hashed).
    changed: tuple[tuple[int, Normal], ...] = field(init=False)

    def __post_init__(self) -> None:
        changed = tuple((i, n) for i, n in enumerate(self.normals) if n is not _same)
        object.__setattr__(self, "changed", changed)

    @classmethod
    def of(cls, table: Table, columns: Sequence[str]) -> Canon:
        return cls(tuple(_normal_for(table.c[name]) for name in columns))

    def __call__(self, row: Sequence[Any]) -> list[Any]:
        if len(row) != len(self.normals):
            raise ValueError(f"{len(row)} values for {len(self.normals)} columns")
        out = list(row)
        for i, normal in self.changed:
            out[i] = normal(out[i])
        return out


_RECORD = Canon.of(RECORDS, RECORD_COLUMNS[:-1])  # applied_at is the writer's clock
_PAYLOAD = {kind: Canon.of(PAYLOAD_TABLES[kind], cols) for kind, cols in PAYLOAD_COLUMNS.items()}
_ITEM = Canon.of(LEAD_ITEMS, ITEM_COLUMNS)
_EVIDENCE = Canon.of(LEAD_EVIDENCE, EVIDENCE_COLUMNS)


def state_digest(state: StateRows) -> str:
    """sha256 of a record's stored rows (the case row is shared, and not the record's)."""
    body = [
        state.kind,
        _RECORD(state.record),
        _PAYLOAD[state.kind](state.payload),
        [_ITEM(i) for i in state.items],
        [_EVIDENCE(e) for e in state.evidence],
    ]
    return hashlib.sha256(orjson.dumps(body, default=str)).hexdigest()


# The event-log columns the chain covers, in the writer's order (id is the position).
CHAINED = LOG_COLUMNS[:-1]
_LOG = Canon.of(EVENT_LOG, CHAINED)
# The DLQ position of a redriven event ends the chained columns. A row without one (every
# row but a redriven event's, and every row written before redrive existed) is hashed
# without those columns, exactly as before they were added: old chains stay verifiable.
_DLQ_AT = len(CHAINED) - len(LOG_DLQ)
assert CHAINED[_DLQ_AT:] == LOG_DLQ


def link(previous: str, row: Sequence[Any]) -> str:
    """The chain hash of a row whose CHAINED values are `row`, after `previous`."""
    values = _LOG(row)
    if all(v is None for v in values[_DLQ_AT:]):
        values = values[:_DLQ_AT]
    return hashlib.sha256(previous.encode() + orjson.dumps(values, default=str)).hexdigest()


# A row's front (its head and identity columns) is known before the batch is decided on:
# the decode worker makes its part of the chain's input and of the COPY text ahead
# (`LogText`), and the writer adds the tail (outcome, stamps, state digest, DLQ position).
_FRONT = len(LOG_HEAD) + len(LOG_IDENTITY)
_LOG_FRONT = Canon(_LOG.normals[:_FRONT])
_LOG_TAIL = Canon(_LOG.normals[_FRONT:])
_TAIL_DLQ_AT = _DLQ_AT - _FRONT


# An event-log row's head and identity as the writer needs them (PostgreSQL): their COPY
# text, each value ended by a tab; their canonical JSON as `link` hashes it, without the
# closing bracket. A plain tuple: a named one costs the worker a call back into Python
# each to pickle.
LogText = tuple[bytes, bytes]


def log_text(rows: RowBuilder, head: Row, identity: Row) -> LogText:
    front = head + identity
    return rows.log_front_line(front), orjson.dumps(_LOG_FRONT(front), default=str)[:-1]


def link_after(previous: str, front: LogText, tail: Sequence[Any]) -> str:
    """`link(previous, head + identity + tail)` for the row whose front is `front`: the
    same bytes hashed (orjson writes a list as its values' JSON joined by commas)."""
    values = _LOG_TAIL(tail)
    if all(v is None for v in values[_TAIL_DLQ_AT:]):
        values = values[:_TAIL_DLQ_AT]
    tail_json = orjson.dumps(values, default=str)[1:]
    return hashlib.sha256(previous.encode() + front[1] + b"," + tail_json).hexdigest()


@dataclass(frozen=True, slots=True)
class Head:
    chain_id: str
    position: int  # event_log.id of the last chained row (0: none yet)
    hash: str
    rows: int  # chained rows


def lock_head(conn: Connection) -> Head:
    """The chain's head, locked until the transaction ends (created on first use)."""
    table = HEAD
    query = select(table).where(table.c.id == 1)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        fresh = {"id": 1, "chain_id": uuid.uuid4().hex, "position": 0, "hash": GENESIS, "rows": 0}
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(insert(table).values(**fresh).on_conflict_do_nothing())
        row = conn.execute(query).mappings().one()
    return Head(row["chain_id"], row["position"], row["hash"], row["rows"])


def move_head(conn: Connection, head: Head, position: int, hash_: str, added: int) -> Head:
    table = HEAD
    moved = Head(head.chain_id, position, hash_, head.rows + added)
    conn.execute(
        update(table)
        .where(table.c.id == 1)
        .values(position=moved.position, hash=moved.hash, rows=moved.rows)
    )
    return moved


def read_head(conn: Connection) -> Head | None:
    table = HEAD
    row = conn.execute(select(table).where(table.c.id == 1)).mappings().first()
    if row is None:
        return None
    return Head(row["chain_id"], row["position"], row["hash"], row["rows"])
