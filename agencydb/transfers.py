"""Open transfers and their deadlines (State Council order 310, for transfers to judicial
organs; the same clock is shown for every transfer kind):

- the transferring agency decides within 3 days of the case report (approved_at),
- sends within 24 hours of approval (sent_at),
- the receiver (police) decides within 3 days whether to file (decided_at),
- a refusal (NOT_FILED) may be contested within 3 days (reconsideration_requested_at),
- seized items go over within 3 days of filing (seized_items_handed_over_at), when the
  materials list seized items.
A deadline the record carries (decide_due, ...) wins over the computed one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from agencydb.models import EventLogEntry, Record, Transfer

DUE_SOON = timedelta(hours=24)
DAYS_3, HOURS_24 = timedelta(days=3), timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Due:
    agency: str
    owner: str
    document_no: str
    case_id: str
    step: str  # what is due
    due: datetime
    status: str  # overdue | due soon | open

    def to_dict(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in self.__slots__}, "due": self.due.isoformat()}


def steps(t: dict[str, Any], reported: datetime | None) -> Iterable[tuple[str, datetime]]:
    """(step, due) for every step of a transfer still open."""
    seized = any(m.get("kind") == "SEIZED_ITEMS_LIST" for m in t.get("materials") or ())
    if t["approved_at"] is None and reported is not None:
        yield "decide whether to transfer", t["decide_due"] or reported + DAYS_3
    if t["approved_at"] is not None and t["sent_at"] is None:
        yield "send the transfer", t["send_due"] or t["approved_at"] + HOURS_24
    if t["sent_at"] is not None and t["decided_at"] is None:
        yield "receiver decides whether to file", t["file_decision_due"] or t["sent_at"] + DAYS_3
    if t["decided_at"] is not None:
        if t["decision"] == "NOT_FILED" and t["reconsideration_requested_at"] is None:
            base = t["reconsideration_due"] or t["decided_at"] + DAYS_3
            yield "request reconsideration (if contested)", base
        if t["decision"] == "FILED" and seized and t["seized_items_handed_over_at"] is None:
            yield "hand over seized items", t["seized_items_due"] or t["decided_at"] + DAYS_3


def due_transfers(engine: Engine, agency: str, now: datetime | None = None) -> list[Due]:
    now = now or datetime.now(UTC)
    first_seen = (
        select(EventLogEntry.owner, EventLogEntry.record_id, func.min(EventLogEntry.occurred_at))
        .where(EventLogEntry.kind == "transfer", EventLogEntry.outcome == "applied")
        .group_by(EventLogEntry.owner, EventLogEntry.record_id)
    )
    table = Transfer.__table__
    query = select(table, Record.case_id, Record.occurred_at.label("record_occurred_at")).join(
        Record,
        (Record.kind == "transfer")
        & (Record.owner == table.c.owner)
        & (Record.record_id == table.c.record_id),
    )
    out: list[Due] = []
    with engine.connect() as conn:
        reported = {(o, r): at for o, r, at in conn.execute(first_seen)}
        for row in conn.execute(query).mappings():
            t = dict(row)
            start = reported.get((t["owner"], t["record_id"])) or t["record_occurred_at"]
            for step, due in steps(t, start):
                status = _status(due, now)
                out.append(
                    Due(agency, t["owner"], t["document_no"], t["case_id"], step, due, status)
                )
    return sorted(out, key=lambda d: d.due)


def _status(due: datetime, now: datetime) -> str:
    if due < now:
        return "overdue"
    return "due soon" if due - now < DUE_SOON else "open"
