"""A case as one agency's database holds it: its records across owners and regions, and the
timeline of the events that built them (rendered by the command line, cli/case.py, and the
console), or as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, select

from agencydb.engine import make_engine
from agencydb.models import PAYLOAD_MODELS, CaseLink, EventLogEntry, Record
from casebus.records import canonical_json


@dataclass
class CaseRecord:
    case_id: str
    kind: str
    owner: str
    record_id: str
    revision: int
    event_type: str
    region: str
    handling: str
    occurred_at: datetime
    digest: str
    content: dict[str, Any]


@dataclass
class TimelineEntry:
    occurred_at: datetime | None
    event_type: str | None
    owner: str | None
    record_id: str | None
    revision: int | None
    outcome: str
    source: str  # topic:partition@offset
    producer: str | None = None  # who published it (a connector, ingest, the feeds)
    origin: str = "sync"  # which path read it this time: sync, or a replay
    detail: str | None = None  # why it was not applied, when it was not


@dataclass
class CaseView:
    case_id: str
    agency: str
    # Cases joined to this one by case links (移送, cross-region cooperation), transitively.
    linked_cases: list[str] = field(default_factory=list)
    records: list[CaseRecord] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)

    @property
    def owners(self) -> list[str]:
        return sorted({r.owner for r in self.records})

    @property
    def regions(self) -> list[str]:
        return sorted({r.region for r in self.records})

    def to_json(self) -> str:
        body = {"owners": self.owners, "regions": self.regions, **asdict(self)}
        return json.dumps(json.loads(canonical_json(body)), ensure_ascii=False, indent=2)


def load_case(url: str, agency: str, case_id: str) -> CaseView:
    view = CaseView(case_id, agency)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            cases = _linked_closure(conn, case_id)
            view.linked_cases = sorted(cases - {case_id})
            view.records = _records(conn, _in_cases(cases))
            view.timeline = _timeline(conn, cases)
    finally:
        engine.dispose()
    return view


def load_record(url: str, kind: str, owner: str, record_id: str) -> CaseRecord | None:
    """One record as the database holds it; None when it holds no such record."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            key = (Record.kind == kind) & (Record.owner == owner) & (Record.record_id == record_id)
            found = _records(conn, select(Record).where(key))
    finally:
        engine.dispose()
    return found[0] if found else None


def _linked_closure(conn: Connection, case_id: str) -> set[str]:
    """`case_id` and every case a case link held here joins to it, directly or not."""
    links = conn.execute(
        select(Record.case_id, CaseLink.linked_case_ids)
        .join(
            CaseLink,
            (CaseLink.owner == Record.owner) & (CaseLink.record_id == Record.record_id),
        )
        .where(Record.kind == "case")
    ).all()
    groups = [{own, *linked} for own, linked in links]
    cases = {case_id}
    grew = True
    while grew:
        grew = False
        for group in groups:
            if cases & group and not group <= cases:
                cases |= group
                grew = True
    return cases


def _in_cases(cases: set[str]) -> Select[Record]:
    return (
        select(Record)
        .where(Record.case_id.in_(sorted(cases)))
        .order_by(Record.occurred_at, Record.kind)
    )


def _records(conn: Connection, query: Select[Record]) -> list[CaseRecord]:
    rows = conn.execute(query).mappings()
    out = []
    for row in rows:
        model = PAYLOAD_MODELS[row["kind"]]
        payload = (
            conn.execute(
                select(model).where(
                    model.owner == row["owner"],  # type: ignore[attr-defined]
                    model.record_id == row["record_id"],  # type: ignore[attr-defined]
                )
            )
            .mappings()
            .first()
        )
        content = {k: v for k, v in (payload or {}).items() if k not in ("owner", "record_id")}
        out.append(
            CaseRecord(
                row["case_id"],
                row["kind"],
                row["owner"],
                row["record_id"],
                row["revision"],
                row["event_type"],
                row["region"],
                row["handling"],
                row["occurred_at"],
                row["digest"],
                content,
            )
        )
    return out


def _timeline(conn: Connection, cases: set[str]) -> list[TimelineEntry]:
    query = (
        select(EventLogEntry)
        .where(EventLogEntry.case_id.in_(sorted(cases)))
        .order_by(EventLogEntry.occurred_at, EventLogEntry.id)
    )
    return [
        TimelineEntry(
            e["occurred_at"],
            e["event_type"],
            e["owner"],
            e["record_id"],
            e["revision"],
            e["outcome"],
            f"{e['topic']}:{e['partition']}@{e['offset']}",
            e["producer"],
            e["origin"],
            e["detail"],
        )
        for e in conn.execute(query).mappings()
    ]
