"""Find cases in one agency's database by what staff know of them: a case number, a party's
or seller's name, a credit code, or a record's number (decision, lead, transfer document).

Substring matches, case-insensitive, with the text bound as a parameter (LIKE wildcards in
it are escaped). Each field is a scan of its table: fine for an agency's thousands of cases;
a deployment of millions would add trigram indexes (PostgreSQL pg_trgm) for these columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import InstrumentedAttribute

from agencydb.models import EnforcementAction, Lead, PenaltyDecision, Record, Transfer

MAX_QUERY = 200


@dataclass(frozen=True, slots=True)
class Match:
    field: str  # the column that matched: case_id, party_name, seller_uscc, ...
    value: str
    kind: str
    owner: str
    record_id: str


@dataclass
class CaseHit:
    case_id: str
    matches: list[Match] = field(default_factory=list)
    records: int = 0
    owners: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    last_event_at: datetime | None = None


# (kind, payload model, its searchable columns); the records table's own columns follow.
_PAYLOAD_FIELDS: tuple[tuple[str, type, tuple[str, ...]], ...] = (
    ("penalty", PenaltyDecision, ("party_name", "party_uscc", "decision_no", "reg_no")),
    ("lead", Lead, ("seller_name", "seller_uscc", "lead_no", "shop_name")),
    ("transfer", Transfer, ("document_no",)),
    ("action", EnforcementAction, ("party_name", "party_uscc")),
)


def search_cases(engine: Engine, text: str, *, limit: int = 50) -> list[CaseHit]:
    """Cases with a record matching `text`, most recently active first (at most `limit`)."""
    needle = text.strip()[:MAX_QUERY]
    if not needle:
        return []
    hits: dict[str, CaseHit] = {}
    with engine.connect() as conn:
        for match_case, match in _matches(conn, needle):
            hit = hits.setdefault(match_case, CaseHit(match_case))
            if match not in hit.matches:
                hit.matches.append(match)
        _summarise(conn, hits)
    ranked = sorted(
        hits.values(),
        key=lambda h: (h.last_event_at is not None, h.last_event_at or datetime.min),
        reverse=True,
    )
    return ranked[:limit]


def _matches(conn: Connection, needle: str) -> list[tuple[str, Match]]:
    out: list[tuple[str, Match]] = []
    ident = (Record.case_id, Record.kind, Record.owner, Record.record_id)
    for name in ("case_id", "record_id"):
        column: InstrumentedAttribute[str] = getattr(Record, name)
        query = select(*ident, column).where(column.icontains(needle, autoescape=True))
        for case_id, kind, owner, record_id, value in conn.execute(query.limit(500)):
            out.append((case_id, Match(name, value, kind, owner, record_id)))
    for kind, model, names in _PAYLOAD_FIELDS:
        joined = (
            (Record.kind == kind)
            & (Record.owner == model.owner)  # type: ignore[attr-defined]
            & (Record.record_id == model.record_id)  # type: ignore[attr-defined]
        )
        for name in names:
            column = getattr(model, name)
            query = (
                select(*ident, column)
                .join(model, joined)
                .where(column.icontains(needle, autoescape=True))
            )
            for case_id, kind_, owner, record_id, value in conn.execute(query.limit(500)):
                out.append((case_id, Match(name, value, kind_, owner, record_id)))
    return out


def _summarise(conn: Connection, hits: dict[str, CaseHit]) -> None:
    if not hits:
        return
    query = select(Record.case_id, Record.owner, Record.region, Record.occurred_at).where(
        Record.case_id.in_(sorted(hits))
    )
    for case_id, owner, region, occurred_at in conn.execute(query):
        hit = hits[case_id]
        hit.records += 1
        if owner not in hit.owners:
            hit.owners.append(owner)
        if region not in hit.regions:
            hit.regions.append(region)
        if hit.last_event_at is None or occurred_at > hit.last_event_at:
            hit.last_event_at = occurred_at
    for hit in hits.values():
        hit.owners.sort()
        hit.regions.sort()
