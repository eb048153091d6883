"""Reconcile two agency databases and show a case, after real syncs (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from agencydb.reconcile import RecordState, reconcile, reconcile_databases
from casebus.config import Settings
from casebus.events import Event, EventType
from cli.case import show_case
from services.sync.service import sync_until_idle
from tests.sync.helpers import (
    EventProducer,
    SyncTopics,
    action,
    lead,
    penalty,
    records,
    stored_as,
    sync_settings,
)

QIJIANG, LUZHOU = "500110-SAMR", "510500-SAMR"
CASE = "CASE-510500-2025-0017"


def with_databases(settings: Settings, urls: dict[str, str]) -> Settings:
    agencies = tuple(
        a.model_copy(update={"db_url": urls[a.code]}) if a.code in urls else a
        for a in settings.agencies
    )
    return settings.model_copy(update={"agencies": agencies})


def record_state(event: Event) -> RecordState:
    """How reconcile sees the record this event, applied, left in a database."""
    (kind, owner, record_id), (revision, digest) = stored_as(event)
    return RecordState(kind, owner, record_id, revision, digest, str(event["case_id"]))


@pytest.fixture
def two_agencies(
    db_url: str, tmp_path: Path, settings: Settings, registry_url: str, sync_topics: SyncTopics
) -> Settings:
    """Qijiang on the parametrised database, Luzhou on a SQLite file; both synced."""
    urls = {QIJIANG: db_url, LUZHOU: f"sqlite:///{tmp_path / 'luzhou.sqlite'}"}
    base = sync_settings(settings, registry_url=registry_url, db_url="", topics=sync_topics)
    return with_databases(base, urls)


def test_reconcile_identical_then_different(
    two_agencies: Settings, producer: EventProducer
) -> None:
    p1, p1_v2 = penalty("P-1"), penalty("P-1", 2)
    l1, t1 = lead("L-1", items=2), action(EventType.TRANSFER_REQUESTED, "T-1")
    police_only = penalty("P-police", handling="H3")  # neither SAMR holds it: not compared
    producer.send_all([p1, p1_v2, l1, t1, police_only])
    # Both SAMRs of the cross-region case take its four events and filter the police's.
    for agency in (QIJIANG, LUZHOU):
        report = sync_until_idle(two_agencies, agency)
        assert dict(report.counts) == {"applied": 4, "filtered": 1}, agency
    shared = dict(stored_as(e) for e in (p1_v2, l1, t1))
    for agency in (QIJIANG, LUZHOU):
        assert records(two_agencies.database_url(agency)) == shared, agency
    report = reconcile(two_agencies, QIJIANG, LUZHOU)
    assert (report.compared, report.identical) == (3, True), report.lines()
    assert list(report.case_digests) == [CASE] and report.differing_cases == []
    in_case = reconcile(two_agencies, QIJIANG, LUZHOU, case_id=CASE)
    assert (in_case.compared, in_case.identical) == (3, True), in_case.lines()

    # Only Luzhou receives the next revision and a new record: the two differ on exactly those.
    p1_v3, p2 = penalty("P-1", 3), penalty("P-2")
    producer.send_all([p1_v3, p2])
    assert dict(sync_until_idle(two_agencies, LUZHOU).counts) == {"applied": 2}
    report = reconcile(two_agencies, QIJIANG, LUZHOU)
    assert report.compared == 4
    assert report.different == [(record_state(p1_v2), record_state(p1_v3))]
    assert (report.missing_on_a, report.missing_on_b) == ([record_state(p2)], [])
    assert report.differing_cases == [CASE]
    assert report.lines()[-1] == f"{QIJIANG} vs {LUZHOU} (all cases): 4 shared records, DIFFERENT"


def test_case_show_tables_and_json(two_agencies: Settings, producer: EventProducer) -> None:
    producer.send_all(
        [penalty("P-1"), penalty("P-1", 2), lead("L-1"), action(EventType.CASE_LINKED, "C-1")]
    )
    sync_until_idle(two_agencies, QIJIANG)
    out = io.StringIO()
    view = show_case(two_agencies, QIJIANG, CASE, console=Console(file=out, width=200))
    text = out.getvalue()
    assert {r.kind for r in view.records} == {"penalty", "lead", "case"}
    assert "泸州市江阳区某某酒业有限公司" in text and "timeline" in text
    assert view.owners == ["510500-SAMR", "PLATFORM-JD"]
    assert [e.outcome for e in view.timeline].count("applied") == 4
    out = io.StringIO()
    show_case(two_agencies, QIJIANG, CASE, as_json=True, console=Console(file=out, width=200))
    body = json.loads(out.getvalue())
    penalty_record = next(r for r in body["records"] if r["kind"] == "penalty")
    assert (
        penalty_record["revision"] == 2 and penalty_record["content"]["fine_amount"] == "5.000000"
    )


def test_reconcile_databases_compares_two_copies_of_one_agency(
    two_agencies: Settings, producer: EventProducer, tmp_path: Path
) -> None:
    p1, l1 = penalty("P-1"), lead("L-1")
    producer.send_all([p1, l1])
    assert dict(sync_until_idle(two_agencies, QIJIANG).counts) == {"applied": 2}
    copy_url = f"sqlite:///{tmp_path / 'copy.sqlite'}"
    other = two_agencies.model_copy(
        update={
            "sync": two_agencies.sync.model_copy(
                update={"db_url": copy_url, "group_id": "g2-" + copy_url[-20:]}
            )
        }
    )
    assert dict(sync_until_idle(other, QIJIANG).counts) == {"applied": 2}
    sub = two_agencies.sync.subscription(QIJIANG)
    original = two_agencies.database_url(QIJIANG)
    assert records(original) == records(copy_url) == dict(stored_as(e) for e in (p1, l1))
    report = reconcile_databases(original, copy_url, (sub, sub))
    assert (report.compared, report.identical) == (2, True), report.lines()

    # The copy alone takes the next revision of P-1: that record, and only it, differs.
    p1_v2 = penalty("P-1", 2)
    producer.send_all([p1_v2])
    assert dict(sync_until_idle(other, QIJIANG).counts) == {"applied": 1}
    report = reconcile_databases(original, copy_url, (sub, sub))
    assert report.compared == 2
    assert report.different == [(record_state(p1), record_state(p1_v2))]
    assert (report.missing_on_a, report.missing_on_b) == ([], [])
