"""The apply rule (pipeline/apply.py), one behaviour per test, on a real agency database:
SQLite offline (make unit), and the same tests on PostgreSQL (marked postgres).

Events are applied as the sync applies them once decoded: `apply_batch` on a connection in
one transaction per batch, with the agency's subscription as `admit` and the inbound step's
validator (Inbound.check). Each event is read at the next offset. Every test asserts each
event's outcome, the stored revision and digest, the rows of `records`, `cases` and the
payload tables, and the event log.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, Table, select

from agencydb.engine import open_database
from agencydb.models import Case, Lead, PenaltyDecision, Record
from agencydb.rows import CASES, LEAD_EVIDENCE, LEAD_ITEMS, PAYLOAD_TABLES, RECORDS
from casebus.config import load_settings
from casebus.events import Event
from casebus.filtering import admits
from casebus.records import content_digest
from casebus.registry import RegistryClient
from casebus.revisions import Outcome, Result
from casebus.topics import TopicNames
from pipeline.apply import apply_batch
from pipeline.inbound import Inbound
from tests.sync.helpers import SHARED, decoded, event_log, lead, penalty, records

AGENCY = "500110-SAMR"  # Qijiang: receives Luzhou's H0-H2 records shared with region 500110
OWNER = "510500-SAMR"  # Luzhou SAMR, owner of the sample penalties
CASE = "CASE-510500-2025-0017"  # the case of every sample event
REGION = "510500"  # ... and its region
APPLIED, STALE, DUPLICATE = Outcome.APPLIED, Outcome.STALE, Outcome.DUPLICATE
CONFLICT, REJECTED, FILTERED = Outcome.CONFLICT, Outcome.REJECTED, Outcome.FILTERED
# Every table that holds record state (all but the event log, its head and the offsets).
STATE_TABLES: tuple[Table, ...] = (
    RECORDS,
    CASES,
    *PAYLOAD_TABLES.values(),
    LEAD_ITEMS,
    LEAD_EVIDENCE,
)

Snapshot = dict[str, list[tuple[Any, ...]]]
LogRow = tuple[int, str | None, int | None, str, str | None]


class AgencyDatabase:
    """One agency's database, fed batch by batch as the sync feeds it."""

    def __init__(self, url: str, engine: Engine, inbound: Inbound) -> None:
        self.url = url
        self.engine = engine
        self.admit = functools.partial(admits, load_settings().sync.subscription(AGENCY))
        self.validate = inbound.check
        self.offset = 0  # of the next event

    def apply(self, *events: Event) -> list[Result]:
        """Apply these events as one batch (one transaction)."""
        items = [decoded(e, self.offset + i) for i, e in enumerate(events)]
        self.offset += len(events)
        with self.engine.begin() as conn:
            return apply_batch(conn, items, admit=self.admit, validate=self.validate)

    def records(self) -> dict[tuple[str, str, str], tuple[int, str]]:
        """(kind, owner, record_id) -> stored (revision, digest)."""
        return records(self.engine)

    def penalties(self) -> list[tuple[str, str, str | None, str | None]]:
        """The penalty_decisions rows: (owner, record_id, remarks, fine_amount)."""
        p = PenaltyDecision
        query = select(p.owner, p.record_id, p.remarks, p.fine_amount).order_by(p.record_id)
        with self.engine.connect() as conn:
            return [(o, r, remarks, str(fine)) for o, r, remarks, fine in conn.execute(query)]

    def stored_events(self) -> dict[tuple[str, str, str], tuple[str, str]]:
        """(kind, owner, record_id) -> the (event_type, event_id) its stored state came from."""
        r = Record
        query = select(r.kind, r.owner, r.record_id, r.event_type, r.event_id)
        with self.engine.connect() as conn:
            return {(k, o, i): (t, e) for k, o, i, t, e in conn.execute(query)}

    def leads(self) -> list[tuple[str, str]]:
        query = select(Lead.owner, Lead.record_id).order_by(Lead.owner, Lead.record_id)
        with self.engine.connect() as conn:
            return [(o, r) for o, r in conn.execute(query)]

    def cases(self) -> list[tuple[str, str]]:
        query = select(Case.case_id, Case.region).order_by(Case.case_id)
        with self.engine.connect() as conn:
            return [(c, r) for c, r in conn.execute(query)]

    def log(self) -> list[LogRow]:
        """The event log: (offset, record_id, revision, outcome, detail), in order."""
        return [
            (e.offset, e.record_id, e.revision, e.outcome, e.detail) for e in event_log(self.url)
        ]

    def snapshot(self) -> Snapshot:
        """Every row of every state table, whole (timestamps too)."""
        with self.engine.connect() as conn:
            return {
                t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
                for t in STATE_TABLES
            }


@pytest.fixture
def inbound() -> Iterator[Inbound]:
    """The inbound step, for its validator only: no registry is asked anything."""
    registry = RegistryClient("http://127.0.0.1:9")
    yield Inbound(load_settings(), registry, TopicNames.same(SHARED))
    registry.close()


@pytest.fixture
def db(local_db_url: str, inbound: Inbound) -> Iterator[AgencyDatabase]:
    engine = open_database(local_db_url)
    yield AgencyDatabase(local_db_url, engine, inbound)
    engine.dispose()


def outcomes(results: list[Result]) -> list[Outcome]:
    return [r.outcome for r in results]


def digest(event: Event) -> str:
    return content_digest(event, "penalty")


def p1(revision: int = 1) -> Event:
    """Revision `revision` of the penalty P-1 (a new event each time: tests may change it)."""
    return penalty("P-1", revision)


P1_KEY = ("penalty", OWNER, "P-1")
FIRST_REMARKS = "川渝一对一协作案件"  # the sample's; revision n > 1 says "第n次变更"
FINE = "5.000000"


def test_a_new_record_is_inserted(db: AgencyDatabase) -> None:
    assert outcomes(db.apply(p1())) == [APPLIED]
    assert db.records() == {P1_KEY: (1, digest(p1()))}
    assert db.stored_events() == {P1_KEY: ("PENALTY_ISSUED", p1()["event_id"])}
    assert db.penalties() == [(OWNER, "P-1", FIRST_REMARKS, FINE)]
    assert db.cases() == [(CASE, REGION)]
    assert db.log() == [(0, "P-1", 1, "applied", None)]


def test_a_higher_revision_replaces_the_stored_one(db: AgencyDatabase) -> None:
    db.apply(p1())
    assert outcomes(db.apply(p1(2))) == [APPLIED]
    assert db.records() == {P1_KEY: (2, digest(p1(2)))}
    assert db.stored_events() == {P1_KEY: ("PENALTY_AMENDED", p1(2)["event_id"])}
    assert db.penalties() == [(OWNER, "P-1", "第2次变更", FINE)]
    assert db.cases() == [(CASE, REGION)]
    assert db.log() == [(0, "P-1", 1, "applied", None), (1, "P-1", 2, "applied", None)]


def test_a_lower_revision_is_stale_and_changes_nothing(db: AgencyDatabase) -> None:
    db.apply(p1(2))
    before = db.snapshot()
    assert outcomes(db.apply(p1())) == [STALE]
    assert db.snapshot() == before
    assert db.records() == {P1_KEY: (2, digest(p1(2)))}
    assert db.penalties() == [(OWNER, "P-1", "第2次变更", FINE)]
    assert db.log() == [
        (0, "P-1", 2, "applied", None),
        (1, "P-1", 1, "stale", "revision 1 < stored 2"),
    ]


def test_the_same_revision_with_the_same_content_is_a_duplicate(db: AgencyDatabase) -> None:
    db.apply(p1())
    before = db.snapshot()
    assert outcomes(db.apply(p1())) == [DUPLICATE]  # the same event, delivered again
    assert db.snapshot() == before
    assert db.records() == {P1_KEY: (1, digest(p1()))}
    assert db.penalties() == [(OWNER, "P-1", FIRST_REMARKS, FINE)]
    assert db.log() == [(0, "P-1", 1, "applied", None), (1, "P-1", 1, "duplicate", None)]


def test_the_same_revision_with_other_content_is_a_conflict_kept_out(db: AgencyDatabase) -> None:
    other = penalty("P-1", 2)
    other["penalty"]["fine_amount"] = Decimal("10.000000")
    assert digest(other) != digest(p1(2))
    db.apply(p1(2))
    before = db.snapshot()
    (result,) = db.apply(other)
    assert result == Result(
        CONFLICT,
        f"revision 2 stored with digest {digest(p1(2))[:12]}, event has {digest(other)[:12]}",
    )
    assert db.snapshot() == before
    assert db.records() == {P1_KEY: (2, digest(p1(2)))}
    assert db.penalties() == [(OWNER, "P-1", "第2次变更", FINE)]
    assert db.log() == [(0, "P-1", 2, "applied", None), (1, "P-1", 2, "conflict", result.detail)]


def test_revisions_delivered_out_of_order_end_at_the_highest(db: AgencyDatabase) -> None:
    assert [outcomes(db.apply(e)) for e in (p1(2), p1(), p1(3))] == [[APPLIED], [STALE], [APPLIED]]
    assert db.records() == {P1_KEY: (3, digest(p1(3)))}
    assert db.penalties() == [(OWNER, "P-1", "第3次变更", FINE)]
    assert db.log() == [
        (0, "P-1", 2, "applied", None),
        (1, "P-1", 1, "stale", "revision 1 < stored 2"),
        (2, "P-1", 3, "applied", None),
    ]


def test_revisions_of_one_record_in_one_batch_resolve_as_one_by_one(db: AgencyDatabase) -> None:
    assert outcomes(db.apply(p1(), p1(3), p1(2))) == [APPLIED, APPLIED, STALE]
    assert db.records() == {P1_KEY: (3, digest(p1(3)))}
    assert db.penalties() == [(OWNER, "P-1", "第3次变更", FINE)]
    assert db.log() == [
        (0, "P-1", 1, "applied", None),
        (1, "P-1", 3, "applied", None),
        (2, "P-1", 2, "stale", "revision 2 < stored 3"),
    ]
    # Only the batch's final state of the record is written: its event-log row says so.
    assert [e.state_digest is not None for e in event_log(db.url)] == [False, True, False]


def test_records_of_one_case_share_one_case_row(db: AgencyDatabase) -> None:
    l1, p2 = lead("L-1", items=2), penalty("P-2")
    assert outcomes(db.apply(p1(), l1)) == [APPLIED, APPLIED]
    first = db.snapshot()["cases"]
    assert outcomes(db.apply(p2)) == [APPLIED]  # a later batch, the case stored already
    assert db.snapshot()["cases"] == first  # first seen when it was first seen
    assert db.cases() == [(CASE, REGION)]
    assert db.records() == {
        P1_KEY: (1, digest(p1())),
        ("lead", "PLATFORM-JD", "L-1"): (1, content_digest(l1, "lead")),
        ("penalty", OWNER, "P-2"): (1, digest(p2)),
    }
    assert db.penalties() == [
        (OWNER, "P-1", FIRST_REMARKS, FINE),
        (OWNER, "P-2", FIRST_REMARKS, FINE),
    ]
    assert db.leads() == [("PLATFORM-JD", "L-1")]
    assert [(e.record_id, e.case_id, e.outcome) for e in event_log(db.url)] == [
        ("P-1", CASE, "applied"),
        ("L-1", CASE, "applied"),
        ("P-2", CASE, "applied"),
    ]


def test_an_invalid_event_that_would_apply_is_rejected_and_changes_nothing(
    db: AgencyDatabase,
) -> None:
    invalid = penalty("P-1", 2)
    invalid["penalty"]["fine_amount"] = Decimal("-5.000000")
    db.apply(p1())
    before = db.snapshot()
    (result,) = db.apply(invalid)
    problem = "penalty.fine_amount: -5.000000 is negative"
    assert result == Result(REJECTED, problem, "ValidationError")
    assert db.snapshot() == before
    assert db.records() == {P1_KEY: (1, digest(p1()))}
    assert db.penalties() == [(OWNER, "P-1", FIRST_REMARKS, FINE)]
    assert db.log() == [(0, "P-1", 1, "applied", None), (1, "P-1", 2, "rejected", problem)]


def test_a_record_not_for_this_agency_is_logged_by_provenance_only(db: AgencyDatabase) -> None:
    police_only = penalty("P-police", handling="H3")  # Qijiang SAMR takes H0-H2 only
    assert outcomes(db.apply(police_only)) == [FILTERED]
    assert db.snapshot() == {t.name: [] for t in STATE_TABLES}
    (entry,) = event_log(db.url)
    provenance = (entry.topic, entry.partition, entry.offset, entry.event_id)
    assert provenance == ("casebus.penalty", 0, 0, police_only["event_id"])
    record = (entry.kind, entry.owner, entry.record_id, entry.revision, entry.case_id)
    assert (*record, entry.digest) == (None,) * 6  # nothing of the record it was
    assert (entry.outcome, entry.detail, entry.state_digest) == ("filtered", None, None)
