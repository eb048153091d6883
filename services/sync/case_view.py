"""A case as one agency's database holds it: its records across owners and regions, and the
timeline of the events that built them. Rendered with rich tables, or as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection, select

from casebus.config import Settings
from casebus.events import EventType
from services.sync.db.engine import make_engine
from services.sync.db.models import PAYLOAD_MODELS, CaseLink, EventLogEntry, Record
from services.sync.records import canonical_json

# What to show of each kind in one line.
_SUMMARY = {
    "penalty": ("party_name", "penalty_content", "fine_amount", "revoke_reason"),
    "lead": ("shop_name", "status", "infringement_type", "platform"),
    "transfer": ("kind", "from_owner", "to_owner", "document_no", "decision"),
    "action": ("kind", "party_name", "content"),
    "case": ("linked_case_ids", "reason"),
}


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
            view.records = _records(conn, cases)
            view.timeline = _timeline(conn, cases)
    finally:
        engine.dispose()
    return view


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


def _records(conn: Connection, cases: set[str]) -> list[CaseRecord]:
    rows = conn.execute(
        select(Record)
        .where(Record.case_id.in_(sorted(cases)))
        .order_by(Record.occurred_at, Record.kind)
    ).mappings()
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
        )
        for e in conn.execute(query).mappings()
    ]


def _summary(record: CaseRecord) -> str:
    parts = []
    for name in _SUMMARY[record.kind]:
        value = record.content.get(name)
        if value not in (None, "", []):
            parts.append(", ".join(map(str, value)) if isinstance(value, list) else str(value))
    text = " · ".join(parts)
    return text if len(text) <= 80 else text[:79] + "…"


def _code(event_type: str | None) -> str:
    try:
        return EventType(event_type or "").code  # penalty.issued
    except ValueError:
        return (event_type or "").lower()


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def render_case(view: CaseView, console: Console | None = None) -> None:
    """Print the case: a table of its records, then its timeline."""
    console = console or Console()
    title = f"case {view.case_id} as held by {view.agency}"
    if view.linked_cases:
        title += f" (linked: {', '.join(view.linked_cases)})"
    if not view.records:
        console.print(f"{title}: no records")
        return
    records = Table(
        title=title, caption=f"owners: {', '.join(view.owners)}; regions: {', '.join(view.regions)}"
    )
    for col in (
        "case",
        "kind",
        "owner",
        "record",
        "rev",
        "state",
        "region",
        "handling",
        "occurred",
        "summary",
    ):
        records.add_column(col, overflow="fold")
    for r in view.records:
        records.add_row(
            r.case_id,
            r.kind,
            r.owner,
            r.record_id,
            str(r.revision),
            _code(r.event_type),
            r.region,
            r.handling,
            _when(r.occurred_at),
            _summary(r),
        )
    console.print(records)
    timeline = Table(title="timeline")
    for col in ("occurred", "event", "owner", "record", "rev", "outcome", "from"):
        timeline.add_column(col, overflow="fold")
    for e in view.timeline:
        timeline.add_row(
            _when(e.occurred_at),
            _code(e.event_type),
            e.owner or "",
            e.record_id or "",
            str(e.revision or ""),
            e.outcome,
            e.source,
        )
    console.print(timeline)


def show_case(
    settings: Settings,
    agency: str,
    case_id: str,
    *,
    as_json: bool = False,
    console: Console | None = None,
) -> CaseView:
    """Load `case_id` from `agency`'s database and print it (rich tables, or JSON)."""
    view = load_case(settings.sync.db_url or settings.database_url(agency), agency, case_id)
    console = console or Console()
    if as_json:
        console.print_json(view.to_json())
    else:
        render_case(view, console)
    return view
