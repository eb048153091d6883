"""Bulk writes of record states: one executemany upsert per table, each dialect's own."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, delete, tuple_
from sqlalchemy.dialects import postgresql, sqlite

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
_CHUNK = 900

RECORDS = table_of(Record)
CASES = table_of(Case)
PAYLOAD_TABLES: dict[str, Table] = {kind: table_of(m) for kind, m in PAYLOAD_MODELS.items()}
_PAYLOAD_COLUMNS = {
    kind: tuple(c.name for c in table.columns if c.name not in _KEY)
    for kind, table in PAYLOAD_TABLES.items()
}


def upsert(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE every other column, as one executemany.

    Rows must not repeat a key (PostgreSQL refuses to update one row twice in a statement).
    """
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    updates = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
    conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=updates), rows)


def insert_missing(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> None:
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(table).on_conflict_do_nothing(index_elements=list(keys)), rows)


def write_records(
    conn: Connection, states: Iterable[tuple[Event, str, str]], *, now: datetime
) -> None:
    """Store each (event, kind, digest) as its record's current state (one per record)."""
    records: list[dict[str, Any]] = []
    payloads: dict[str, list[dict[str, Any]]] = {kind: [] for kind in PAYLOAD_TABLES}
    cases: dict[str, dict[str, Any]] = {}
    leads: list[tuple[str, str, dict[str, Any]]] = []
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
            leads.append((owner, record_id, payload))
    upsert(conn, RECORDS, records, ("kind", "owner", "record_id"))
    insert_missing(conn, CASES, list(cases.values()), ("case_id",))
    for kind, rows in payloads.items():
        upsert(conn, PAYLOAD_TABLES[kind], rows, _KEY)
    _replace_lead_children(conn, leads)


def _replace_lead_children(
    conn: Connection, leads: Sequence[tuple[str, str, dict[str, Any]]]
) -> None:
    """Items and evidence are part of the lead's state: replace them with the new revision's."""
    if not leads:
        return
    keys = [(owner, record_id) for owner, record_id, _ in leads]
    for model in (LeadItem, LeadEvidence):
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            conn.execute(delete(model).where(tuple_(model.owner, model.record_id).in_(chunk)))
    items: list[dict[str, Any]] = []
    evidence: list[dict[str, Any]] = []
    for owner, record_id, payload in leads:
        for position, item in enumerate(payload["items"]):
            items.append({"owner": owner, "record_id": record_id, "position": position, **item})
        for position, proof in enumerate(payload["evidence"]):
            evidence.append({"owner": owner, "record_id": record_id, "position": position, **proof})
    if items:
        conn.execute(table_of(LeadItem).insert(), items)
    if evidence:
        conn.execute(table_of(LeadEvidence).insert(), evidence)
