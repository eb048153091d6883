"""Real broker: the sync publishes signed chain heads; `casebus audit verify` passes on a
clean database, fails naming the place after a hand edit or a rewritten chain, and passes
again on a database replay rebuilt (whose new chain replay published)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import text

from agencydb.engine import make_engine
from casebus.config import Settings
from services.replay.service import ReplayRequest, replay
from services.sync.service import sync_until_idle
from tests.provenance.helpers import rehash
from tests.sync.faults import sync_env
from tests.sync.helpers import EventProducer, SyncTopics, lead, penalty, read_topic, sync_settings

AGENCY = "500110-SAMR"


def _audit(env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "cli", "audit", "verify", AGENCY, "--json"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert done.stdout, done.stderr.decode()
    return done.returncode, json.loads(done.stdout)


def _execute(db_url: str, sql: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def _rehash(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            rehash(conn)
    finally:
        engine.dispose()


def test_audit_verify_on_the_real_broker(
    settings: Settings,
    registry_url: str,
    sync_topics: SyncTopics,
    producer: EventProducer,
    db_url: str,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    s = sync_settings(settings, registry_url=registry_url, db_url=db_url, topics=sync_topics)
    env = sync_env(s, bootstrap=kafka_bootstrap, db_url=db_url)
    producer.send_all([penalty(f"P-{i}") for i in range(5)] + [lead("L-1", items=2)])
    sync_until_idle(s, AGENCY)
    producer.send_all([penalty("P-1", 2), lead("L-1", 2, items=3)])
    sync_until_idle(s, AGENCY)
    heads = read_topic(kafka_bootstrap, sync_topics.audit, expected=2)
    assert [r.key for r in heads] == [AGENCY.encode()] * 2  # one per run: its final head
    code, report = _audit(env)
    assert (code, report["ok"], report["heads_matched"]) == (0, True, 2), report
    assert report["records"] == 6 and report["rows"] == 8

    _execute(db_url, "UPDATE penalty_decisions SET party_name = '改' WHERE record_id = 'P-3'")
    code, report = _audit(env)
    assert code == 1
    (problem,) = report["problems"]
    assert problem.startswith("record penalty 510500-SAMR/P-3: its stored rows are not what")

    # Hide the edit in the log too, hashes recomputed: the published heads disagree.
    _execute(db_url, "UPDATE event_log SET detail = 'hand' WHERE record_id = 'P-3'")
    _rehash(db_url)
    code, report = _audit(env)
    assert code == 1
    assert not any(p.startswith("event log position") for p in report["problems"])
    assert any(
        p.startswith("published head at position") and "rewritten" in p for p in report["problems"]
    ), report

    # A replay rebuilds the database from the topics and publishes its new chain's head.
    replay(s, ReplayRequest(AGENCY, fresh=True))
    code, report = _audit(env)
    assert (code, report["ok"]) == (0, True), report
    assert report["heads_published"] == 3 and report["heads_matched"] == 1
