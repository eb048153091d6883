"""Replay against the real broker, on SQLite and PostgreSQL: rebuild, repair, one case."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select, text

from agencydb.engine import make_engine
from agencydb.models import EventLogEntry
from agencydb.reconcile import reconcile_databases
from casebus.config import Settings
from casebus.events import EventType
from casebus.revisions import Outcome
from services.replay import scope
from services.replay.scope import SlicedReader
from services.replay.service import ReplayError, ReplayRequest, replay
from services.sync.service import sync_until_idle
from tests.sync.faults import (
    AGENCY,
    Streamer,
    end_started,
    offsets_logged_once,
    start_sync,
    stream_events,
    sync_env,
)
from tests.sync.helpers import EventProducer, action, lead, penalty, records

LINKED = "CASE-500110-2025-0042"  # the sample case link joins CASE-510500-2025-0017 to it
CASE = "CASE-510500-2025-0017"


def _with_db(settings: Settings, url: str) -> Settings:
    return settings.model_copy(update={"sync": settings.sync.model_copy(update={"db_url": url})})


def _fill(producer: EventProducer) -> int:
    events = [
        *(penalty(f"P-{i}", r, case_id=f"CASE-R-{i % 9}") for i in range(60) for r in (1, 2)),
        penalty("P-0", 1, case_id="CASE-R-0"),  # a stale re-delivery
        *(lead(f"L-{i}", 1 + i % 3, items=1 + i % 2) for i in range(20)),
        action(EventType.TRANSFER_REQUESTED, "T-1"),
        action(EventType.CASE_LINKED, "C-1"),
        penalty("P-linked", case_id=LINKED, owner="500110-SAMR", region="500110"),
        penalty("P-other", case_id="CASE-500110-2025-0999", owner="500110-SAMR", region="500110"),
    ]
    producer.send_all(events)
    return len(events)


def _reconciled(settings: Settings, a: str, b: str) -> None:
    sub = settings.sync.subscription(AGENCY)
    report = reconcile_databases(a, b, (sub, sub), names=("a", "b"))
    assert report.identical, report.lines()[:20]
    assert report.compared > 50


def test_fresh_rebuild_equals_the_live_synced_database(
    sync_base: Settings, producer: EventProducer, db_url: str, tmp_path: Path
) -> None:
    count = _fill(producer)
    live = f"sqlite:///{tmp_path / 'live.sqlite'}"
    assert sync_until_idle(_with_db(sync_base, live), AGENCY).events == count
    rebuilt = _with_db(sync_base, db_url)
    result = replay(rebuilt, ReplayRequest(AGENCY, fresh=True))
    assert result.report.events == count
    _reconciled(sync_base, live, db_url)
    assert offsets_logged_once(db_url) == (count, count)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            origins = set(conn.scalars(select(EventLogEntry.origin)))
            # Left out during the load, built before the swap: the migrated set, no fewer.
            indexes = {i["name"] for i in inspect(conn).get_indexes("event_log")}
    finally:
        engine.dispose()
    assert origins == {"replay"}
    assert indexes == {
        "ix_event_log_case_id",
        "ix_event_log_position",
        "ix_event_log_record",
        "uq_event_log_dlq_position",
    }
    # The rebuilt database holds the sync's offsets: a sync started now has nothing to do.
    assert sync_until_idle(rebuilt, AGENCY).events == 0


def test_a_hand_edit_is_reported_by_dry_run_and_repaired(
    sync_base: Settings, producer: EventProducer, db_url: str
) -> None:
    _fill(producer)
    s = _with_db(sync_base, db_url)
    sync_until_idle(s, AGENCY)
    assert replay(s, ReplayRequest(AGENCY, dry_run=True)).difference.none  # type: ignore[union-attr]
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE penalty_decisions SET party_name = '手改' WHERE record_id = 'P-3'")
            )
            conn.execute(text("DELETE FROM lead_items WHERE record_id = 'L-1'"))
    finally:
        engine.dispose()
    diff = replay(s, ReplayRequest(AGENCY, dry_run=True)).difference
    assert diff is not None and not diff.none
    changed = {key[2]: fields for key, fields in diff.changed.items()}
    assert set(changed) == {"P-3", "L-1"}
    assert changed["P-3"]["penalty.party_name"][0] == "手改"
    assert diff.inserted == [] and diff.unexplained == [] and diff.unchanged > 50
    before = records(db_url)
    repaired = replay(s, ReplayRequest(AGENCY))  # into the live database: a repair
    assert repaired.report.events > 0 and repaired.report.count(Outcome.APPLIED) == 0
    assert replay(s, ReplayRequest(AGENCY, dry_run=True)).difference.none  # type: ignore[union-attr]
    assert records(db_url) == before  # revisions and digests as they were


def test_case_replay_rebuilds_the_case_and_its_linked_cases_only(
    sync_base: Settings, producer: EventProducer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(producer)
    full = f"sqlite:///{tmp_path / 'full.sqlite'}"
    sync_until_idle(_with_db(sync_base, full), AGENCY)
    expected = {k for k, case in _cases(full).items() if case in (CASE, LINKED)}
    assert {k[2] for k in expected} >= {"C-1", "T-1", "P-linked", "L-0"}
    url = f"sqlite:///{tmp_path / 'case.sqlite'}"
    result = replay(_with_db(sync_base, url), ReplayRequest(AGENCY, case_id=LINKED))
    assert result.cases == sorted([CASE, LINKED])  # found from the linked side
    assert set(_cases(url)) == expected
    # Only the partitions the two keys hash to were read: at most two of each topic's.
    assert len(result.partitions) <= 2 * 3 and result.report.events < 40
    # What a large topic gets: the partitions read in slices by three forked readers at once.
    reads: list[int] = []

    def three(cls: type[SlicedReader], settings: Settings, client_id: str) -> SlicedReader:
        readers = cls(settings, client_id, 3)
        read = readers.read

        def counted(*args: Any) -> dict[Any, list[Any]]:
            reads.append(1)
            return read(*args)

        readers.read = counted  # type: ignore[method-assign, assignment]
        return readers

    monkeypatch.setattr(scope, "SLICE_FROM", 0)
    monkeypatch.setattr(SlicedReader, "for_machine", classmethod(three))
    sliced = f"sqlite:///{tmp_path / 'sliced.sqlite'}"
    again = replay(_with_db(sync_base, sliced), ReplayRequest(AGENCY, case_id=LINKED))
    assert reads and again.cases == result.cases and set(_cases(sliced)) == expected
    assert again.report.events == result.report.events
    assert _log_offsets(sliced) == _log_offsets(url)
    monkeypatch.undo()
    # Into a database that holds the link, from either side: the link comes from it.
    for asked in (LINKED, CASE):
        again = replay(_with_db(sync_base, full), ReplayRequest(AGENCY, case_id=asked))
        assert again.cases == sorted([CASE, LINKED])


def _log_offsets(url: str) -> list[tuple[str, int, int]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            query = text('SELECT topic, partition, "offset" FROM event_log ORDER BY id')
            return [tuple(row) for row in conn.execute(query)]
    finally:
        engine.dispose()


def _cases(url: str) -> dict[tuple[str, str, str], str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT kind, owner, record_id, case_id FROM records"))
            return {(k, o, r): c for k, o, r, c in rows}
    finally:
        engine.dispose()


def test_fresh_refuses_while_the_agency_sync_runs(
    sync_base: Settings, producer: EventProducer, kafka_bootstrap: str, tmp_path: Path
) -> None:
    _fill(producer)
    url = f"sqlite:///{tmp_path / 'agency.sqlite'}"
    s = _with_db(sync_base, url)
    running = start_sync(sync_env(s, bootstrap=kafka_bootstrap, db_url=url), tmp_path / "s.log")
    try:
        deadline = time.monotonic() + 30
        while "assigned [" not in (tmp_path / "s.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.5)
        with pytest.raises(ReplayError, match="stop `casebus sync run 500110-SAMR`"):
            replay(s, ReplayRequest(AGENCY, fresh=True))
    finally:
        running.send_signal(signal.SIGTERM)
        running.wait(timeout=30)
        end_started()


@pytest.mark.slow
def test_sigkill_during_fresh_leaves_the_old_database_and_a_rerun_completes(
    sync_base: Settings, producer: EventProducer, kafka_bootstrap: str, tmp_path: Path
) -> None:
    events = stream_events(20000, records=3000, seed=3)
    producer.send_all(events)
    url = f"sqlite:///{tmp_path / 'agency.sqlite'}"
    s = _with_db(sync_base, url)
    sync_until_idle(s, AGENCY)
    engine = make_engine(url)
    with engine.begin() as conn:  # mark the old database, to tell it from a rebuilt one
        conn.execute(text("UPDATE penalty_decisions SET remarks = 'old' WHERE record_id = 'F-1'"))
    engine.dispose()
    before = records(url)
    env = sync_env(s, bootstrap=kafka_bootstrap, db_url=url)
    env["CASEBUS_SYNC__BATCH_SIZE"] = "200"  # many small transactions: a long rebuild
    args = [sys.executable, "-m", "cli", "replay", "--into", AGENCY, "--all", "--fresh"]
    rebuild = Path(f"{tmp_path / 'agency.sqlite'}.rebuild")
    midway = 0
    for pause in (0.0, 0.3, 0.8):
        killed = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not rebuild.exists() and killed.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(pause)  # into the rebuild
        if killed.poll() is not None:  # it finished first: no kill to check
            break
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=10)
        if _remark(url) != "old":  # killed after the swap: the rebuild must be whole
            assert offsets_logged_once(url) == (len(events), len(events))
            break
        midway += 1
        assert records(url) == before  # untouched: still the old database
    assert midway, "no kill landed while a rebuild was being written"
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert _remark(url) != "old"  # rebuilt from the events
    assert offsets_logged_once(url) == (len(events), len(events))


def _remark(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(text("SELECT remarks FROM penalty_decisions WHERE record_id='F-1'"))
    finally:
        engine.dispose()


@pytest.mark.slow
def test_sync_after_a_fresh_replay_continues_exactly_where_it_ended(
    sync_base: Settings,
    producer: EventProducer,
    kafka_bootstrap: str,
    db_url: str,
    tmp_path: Path,
) -> None:
    first = stream_events(3000, seed=13)
    producer.send_all(first)
    s = _with_db(sync_base, db_url)
    sync_until_idle(s, AGENCY)
    later = stream_events(3000, seed=14, records=500)
    streamer = Streamer(producer, later, per_second=400)
    streamer.start()  # events keep arriving while the database is rebuilt
    time.sleep(1.0)
    replay(s, ReplayRequest(AGENCY, fresh=True))
    streamer.join(timeout=120)
    assert streamer.error is None
    sync_until_idle(s, AGENCY)
    total = len(first) + len(later)
    assert offsets_logged_once(db_url) == (total, total)
    reference = f"sqlite:///{tmp_path / 'reference.sqlite'}"
    ref = _with_db(sync_base, reference).model_copy(
        update={
            "sync": sync_base.sync.model_copy(
                update={"db_url": reference, "group_id": f"ref-{uuid.uuid4().hex[:8]}"}
            )
        }
    )
    assert sync_until_idle(ref, AGENCY).events == total
    _reconciled(sync_base, db_url, reference)
