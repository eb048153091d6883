"""States written as COPY text (the decode worker's hand-over) store exactly what the same
states written as values store, on PostgreSQL: new records, stored ones (the upsert path),
lead children, and text that COPY must escape."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, text

from agencydb.engine import open_database
from agencydb.models import PAYLOAD_MODELS, Case, LeadEvidence, LeadItem, Record, table_of
from agencydb.rows import RowBuilder, StateLines, StateRows
from agencydb.states import write_states
from casebus.contracts.samples import sample_lead_event, sample_penalty_event
from casebus.events import Event
from casebus.records import content_digest, record_kind

pytestmark = pytest.mark.postgres

# What COPY's text format must escape, and what it need not.
AWKWARD = "制表\t换行\n回车\r反斜杠\\N 与 \\. 结束"


def _events(revision: int) -> list[Event]:
    penalty = sample_penalty_event(revision)
    penalty["penalty"]["violation_facts"] = AWKWARD
    penalty["penalty"]["remarks"] = None
    lead = sample_lead_event()
    lead["revision"] = revision
    lead["lead"]["items"] = [
        {"listing_url": f"https://item.jd.com/{n}.html", "listing_id": str(n), "title": AWKWARD}
        for n in range(revision + 1)
    ]
    other = copy.deepcopy(penalty)
    other["record_id"] = other["penalty"]["decision_no"] = "泸市监处罚〔2025〕18号"
    other["case_id"] = "CASE-510500-2025-0018"
    return [penalty, lead, other]


def _states(rows: RowBuilder, revision: int) -> list[StateRows]:
    out = []
    for event in _events(revision):
        kind = record_kind(event)
        out.append(rows.state(event, kind, content_digest(event, kind)))
    return out


def _tables(conn: Connection) -> dict[str, list[Any]]:
    models = [Record, Case, LeadItem, LeadEvidence, *PAYLOAD_MODELS.values()]
    out = {}
    for model in models:
        table = table_of(model)
        order = ", ".join(c.name for c in table.primary_key.columns)
        rows = conn.execute(text(f"SELECT * FROM {table.name} ORDER BY {order}"))
        out[table.name] = [tuple(r) for r in rows]
    return out


def _written(url: str, as_lines: bool) -> list[dict[str, list[Any]]]:
    engine = open_database(url, sync_writer=True)
    rows = RowBuilder(engine.dialect)
    assert rows.makes_lines
    now = datetime(2026, 12, 5, 8, 30, tzinfo=UTC)
    seen = []
    try:
        with engine.begin() as conn:
            stored: set[tuple[str, str, str]] = set()
            for revision in (1, 2):  # new records, then the same records stored
                states: list[StateRows | StateLines] = list(_states(rows, revision))
                if as_lines:
                    states = [rows.as_lines(s) for s in states]
                    assert all(isinstance(s.record, bytes) for s in states)
                write_states(conn, states, rows=rows, now=now, stored=stored)
                stored |= {(s.kind, s.owner, s.record_id) for s in map(rows.as_lines, states)}
                seen.append(_tables(conn))
            conn.rollback()
    finally:
        engine.dispose()
    return seen


def test_states_as_copy_text_store_what_values_store(pg_url: str) -> None:
    as_values = _written(pg_url, as_lines=False)
    as_lines = _written(pg_url, as_lines=True)
    assert as_lines == as_values
    first, second = as_values
    assert len(first["records"]) == 3 and len(first["cases"]) == 2
    assert [r for r in second["records"] if r[3] != 2] == []  # every record at revision 2
    assert len(first["lead_items"]) == 2 and len(second["lead_items"]) == 3
    facts = {r for table in second.values() for row in table for r in row if r == AWKWARD}
    assert facts == {AWKWARD}


def test_a_connection_in_another_encoding_still_reads_the_text_as_utf8(pg_url: str) -> None:
    engine = create_engine(pg_url, connect_args={"client_encoding": "GB18030"})
    open_database(pg_url, sync_writer=True).dispose()  # migrated
    rows = RowBuilder(engine.dialect)
    try:
        with engine.begin() as conn:
            states = [rows.as_lines(s) for s in _states(rows, 1)]
            write_states(conn, states, rows=rows, now=datetime.now(UTC), stored=set())
            facts = conn.scalar(text("SELECT violation_facts FROM penalty_decisions LIMIT 1"))
            conn.rollback()
    finally:
        engine.dispose()
    assert facts == AWKWARD
