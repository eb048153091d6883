"""Reconcile two agency databases and show a case, after real syncs (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from casebus.config import Settings
from casebus.events import EventType
from services.sync.case_view import show_case
from services.sync.reconcile import reconcile, reconcile_databases
from services.sync.service import sync_until_idle
from tests.sync.helpers import EventProducer, SyncTopics, action, lead, penalty, sync_settings

QIJIANG, LUZHOU = "500110-SAMR", "510500-SAMR"
CASE = "CASE-510500-2025-0017"


def with_databases(settings: Settings, urls: dict[str, str]) -> Settings:
    agencies = tuple(
        a.model_copy(update={"db_url": urls[a.code]}) if a.code in urls else a
        for a in settings.agencies
    )
    return settings.model_copy(update={"agencies": agencies})


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
    producer.send_all(
        [
            penalty("P-1"),
            penalty("P-1", 2),
            lead("L-1", items=2),
            action(EventType.TRANSFER_REQUESTED, "T-1"),
            penalty("P-police", handling="H3"),  # neither SAMR holds it: not compared
        ]
    )
    for agency in (QIJIANG, LUZHOU):
        sync_until_idle(two_agencies, agency)
    report = reconcile(two_agencies, QIJIANG, LUZHOU)
    assert report.identical, report.lines()
    assert report.compared == 3
    assert reconcile(two_agencies, QIJIANG, LUZHOU, case_id=CASE).identical

    # Only Luzhou receives the next revision: the two differ on that record and case.
    producer.send_all([penalty("P-1", 3), penalty("P-2")])
    sync_until_idle(two_agencies, LUZHOU)
    report = reconcile(two_agencies, QIJIANG, LUZHOU)
    assert not report.identical
    assert [r.record_id for r in report.missing_on_a] == ["P-2"]
    assert [(a.revision, b.revision) for a, b in report.different] == [(2, 3)]
    assert report.differing_cases == [CASE]
    assert report.lines()[-1].endswith("DIFFERENT")


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
    producer.send_all([penalty("P-1"), lead("L-1")])
    sync_until_idle(two_agencies, QIJIANG)
    copy_url = f"sqlite:///{tmp_path / 'copy.sqlite'}"
    other = two_agencies.model_copy(
        update={
            "sync": two_agencies.sync.model_copy(
                update={"db_url": copy_url, "group_id": "g2-" + copy_url[-20:]}
            )
        }
    )
    sync_until_idle(other, QIJIANG)
    sub = two_agencies.sync.subscription(QIJIANG)
    original = two_agencies.database_url(QIJIANG)
    assert reconcile_databases(original, copy_url, (sub, sub)).identical
