"""Carry out erasures (casebus personal erase) on an agency database's stored rows.

An erasure destroyed the data keys of one person; what this database opened with them
before is still in its rows. Each stored personal value sealed under a destroyed key
(`personal_keys` of its row says which key) is replaced with the erasure marker, and the
change is written to the event log like any other write: a chained row naming the record,
the erasure and the fields, with the digest of the rows as they now are, so
`casebus audit verify` checks the erased rows as it checks every other. Each erasure is
carried out once (`personal_erasures`). An erasure is known by (source, id): the source
is "" for the local key store, a region's code for its key service, whose logs number their
erasures each from 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, func, select, update

from agencydb.chain import link, lock_head, move_head, state_digest
from agencydb.models import LeadEvidence, LeadItem, PersonalErasure, table_of
from agencydb.rows import (
    EVENT_LOG,
    EVIDENCE_COLUMNS,
    ITEM_COLUMNS,
    LOG_COLUMNS,
    PAYLOAD_COLUMNS,
    PAYLOAD_TABLES,
    PERSONAL_KINDS,
    RECORD_COLUMNS,
    RECORDS,
    RowBuilder,
    StateRows,
)
from agencydb.writes import write_tuples
from casebus.personal.envelope import ERASED

ERASURES = table_of(PersonalErasure)
# Where an erasure's event-log rows say they came from (no topic: an admin's act).
ERASURE_SOURCE = "(personal erase)"
ERASURE_EVENT = "personal.erased"


class Position(NamedTuple):
    topic: str
    partition: int
    offset: int
    schema_id: int | None = None


ErasureId = tuple[str, int]  # (source, id in that source's log)


def carried_out(conn: Connection) -> set[ErasureId]:
    rows = conn.execute(select(ERASURES.c.source, ERASURES.c.erasure_id))
    return {(str(source), int(number)) for source, number in rows}


def label(erasure: ErasureId) -> str:
    source, number = erasure
    return f"{source}/{number}" if source else str(number)


def carry_out(
    conn: Connection,
    erasures: Mapping[ErasureId, frozenset[str]],  # erasure -> the data key ids it destroyed
    rows: RowBuilder,
    now: datetime,
) -> int:
    """Replace the values sealed under the erasures' keys with the marker; the number of
    records changed. Nothing here commits: the caller owns the transaction."""
    todo = {i: keys for i, keys in erasures.items() if i not in carried_out(conn)}
    if not todo:
        return 0
    erasure_of = {key: i for i, keys in sorted(todo.items()) for key in keys}
    logged_at = rows.stamp("event_log", "logged_at", now)
    head = lock_head(conn)
    previous, out = head.hash, []
    changed = 0
    for kind in sorted(PERSONAL_KINDS):
        table = PAYLOAD_TABLES[kind]
        found = conn.execute(
            select(table.c.owner, table.c.record_id, table.c.personal_keys, *_holders(kind))
        ).all()
        for owner, record_id, keys, *held in found:
            paths = sorted(p for p, k in (keys or {}).items() if k in erasure_of)
            if not paths:
                continue
            values = _erased_values(kind, paths, dict(zip(_holder_names(kind), held, strict=True)))
            where = (table.c.owner == owner) & (table.c.record_id == record_id)
            conn.execute(update(table).where(where).values(**values))
            state, identity = _stored(conn, kind, owner, record_id)
            which = sorted({erasure_of[keys[p]] for p in paths})
            detail = f"erasure {', '.join(map(label, which))}: {', '.join(paths)}"
            log_head = rows.log_head(Position(ERASURE_SOURCE, 0, which[0][1]), _event(identity))
            row = (
                log_head
                + rows.log_identity(_event(identity), kind, identity["digest"])
                + ("erased", detail, logged_at, "erasure", state_digest(state), None, None, None)
            )
            previous = link(previous, row)
            out.append((*row, previous))
            changed += 1
    write_tuples(conn, EVENT_LOG, LOG_COLUMNS, out)
    if out:
        position = conn.scalar(select(func.max(EVENT_LOG.c.id)))
        move_head(conn, head, int(position), previous, len(out))
    applied_at = rows.stamp("event_log", "logged_at", now)
    done = [(source, number, applied_at, changed) for source, number in sorted(todo)]
    write_tuples(conn, ERASURES, ("source", "erasure_id", "applied_at", "records"), done)
    return changed


def _holder_names(kind: str) -> tuple[str, ...]:
    """The payload columns that hold personal values."""
    return ("informant", "seller_id_no") if kind == "lead" else _PENALTY_PERSONAL


_PENALTY_PERSONAL = ("legal_rep_id_type", "legal_rep_id_no", "person_id_type", "person_id_no")


def _holders(kind: str) -> list[Any]:
    table = PAYLOAD_TABLES[kind]
    return [table.c[name] for name in _holder_names(kind)]


def _erased_values(kind: str, paths: Sequence[str], held: dict[str, Any]) -> dict[str, Any]:
    """The new values of the columns holding these personal fields (dotted paths)."""
    values: dict[str, Any] = {}
    for path in paths:
        steps = path.split(".")[1:]  # without the payload's name
        column = steps[0]
        if len(steps) == 1:
            if held.get(column) is not None:
                values[column] = ERASED
            continue
        inner = dict(values.get(column) or held.get(column) or {})
        if inner.get(steps[1]) is not None:
            inner[steps[1]] = ERASED
        values[column] = inner
    return values


def _event(identity: Mapping[str, Any]) -> dict[str, Any]:
    return {**identity, "event_type": ERASURE_EVENT, "event_id": None, "producer": None}


def _stored(conn: Connection, kind: str, owner: str, record_id: str) -> tuple[StateRows, Any]:
    """The record's stored rows as the writer's StateRows, and its records row."""
    record_columns = RECORD_COLUMNS[:-1]
    record_where = (
        (RECORDS.c.kind == kind) & (RECORDS.c.owner == owner) & (RECORDS.c.record_id == record_id)
    )
    record = conn.execute(select(*(RECORDS.c[c] for c in record_columns)).where(record_where))
    record_row = record.one()
    table = PAYLOAD_TABLES[kind]
    where = (table.c.owner == owner) & (table.c.record_id == record_id)
    payload = conn.execute(select(*(table.c[c] for c in PAYLOAD_COLUMNS[kind])).where(where)).one()
    children = []
    for model, columns in ((LeadItem, ITEM_COLUMNS), (LeadEvidence, EVIDENCE_COLUMNS)):
        child = table_of(model)
        query = (
            select(*(child.c[c] for c in columns))
            .where((child.c.owner == owner) & (child.c.record_id == record_id))
            .order_by(child.c.position)
        )
        children.append(tuple(tuple(r) for r in conn.execute(query)) if kind == "lead" else ())
    state = StateRows(kind, tuple(record_row), tuple(payload), (), children[0], children[1])
    return state, dict(record_row._mapping)
