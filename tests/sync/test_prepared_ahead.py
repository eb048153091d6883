"""Items prepared ahead (as the decode worker hands them over) apply exactly as events do,
including those the worker left without rows because it expected them to lose."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select
from sqlalchemy.engine import make_url

from agencydb.engine import open_database
from agencydb.reconcile import reconcile_databases
from agencydb.rows import EVENT_LOG, RowBuilder
from casebus.config import load_settings
from casebus.events import Event
from casebus.revisions import Outcome
from pipeline.apply import Unforeseen, apply_batch
from pipeline.items import Decoded, Foreseen, Item, Provenance
from pipeline.prepare import prepare
from tests.sync.helpers import event_log, lead, penalty

AGENCY = "510500-SAMR"


def _events() -> list[Event]:
    return [penalty("P-1", 1), lead("L-1", 1, items=2), penalty("P-1", 2), lead("L-1", 2, items=3)]


def test_rows_left_out_ahead_are_prepared_again_when_the_event_wins(
    local_db_url: str, tmp_path: Path
) -> None:
    db_url, settings = local_db_url, load_settings()  # no broker: the default deployment
    events = _events()
    provenance = [Provenance("casebus.test", 0, i, 1) for i in range(len(events))]
    inline_url = f"sqlite:///{tmp_path / 'inline.sqlite'}"
    inline = open_database(inline_url)
    with inline.begin() as conn:
        items = [Decoded(p, e) for p, e in zip(provenance, events, strict=True)]
        expected = apply_batch(conn, items)
    inline.dispose()

    # Ahead: every event without its rows (as if a worker had seen higher revisions), and
    # without the event itself; apply must say which win, before writing anything, and
    # once those are decoded again and applied, the database must hold the same.
    rows = RowBuilder(make_url(db_url).get_dialect()())
    ahead: list[Item] = []
    for p, e in zip(provenance, events, strict=True):
        prep = prepare(Decoded(p, e), rows, None, foresee=lambda key, revision: True)
        assert isinstance(prep, Foreseen)
        ahead.append(prep)
    loaded: list[int] = []

    engine = open_database(db_url)
    with engine.begin() as conn:
        with pytest.raises(Unforeseen) as unforeseen:
            apply_batch(conn, ahead)
        assert event_log_rows(conn) == 0
        for i in unforeseen.value.indexes:
            loaded.append(ahead[i].provenance.offset)
            ahead[i] = Decoded(ahead[i].provenance, events[ahead[i].provenance.offset])
        results = apply_batch(conn, ahead)
    engine.dispose()

    assert [r.outcome for r in results] == [r.outcome for r in expected] == [Outcome.APPLIED] * 4
    assert loaded == [0, 1, 2, 3]
    sub = settings.sync.subscription(AGENCY)
    report = reconcile_databases(db_url, inline_url, (sub, sub), names=("ahead", "inline"))
    assert report.identical and report.compared == 2, report.lines()
    logged = [(e.offset, e.outcome, e.digest, e.event_id) for e in event_log(db_url)]
    assert logged == [(e.offset, e.outcome, e.digest, e.event_id) for e in event_log(inline_url)]


def event_log_rows(conn: Connection) -> int:
    return int(conn.scalar(select(func.count()).select_from(EVENT_LOG)) or 0)
