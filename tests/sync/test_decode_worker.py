"""Decoding ahead in a worker process: the same database as decoding inline, and a worker
that does not outlive a killed sync process."""

from __future__ import annotations

import copy
import os
import signal
import time
import uuid
from pathlib import Path

from agencydb.reconcile import reconcile_databases
from casebus.config import Settings
from casebus.revisions import Outcome
from pipeline.settings import SyncTuning
from services.sync.service import sync_until_idle
from tests.sync.faults import AGENCY, start_sync, stream_events, sync_env
from tests.sync.helpers import EventProducer, SyncTopics, event_log, sync_settings


def _log_by_offset(db_url: str) -> dict[tuple[str, int, int], tuple[str, str | None, str | None]]:
    return {
        (e.topic, e.partition, e.offset): (e.outcome, e.detail, e.digest) for e in event_log(db_url)
    }


def test_backlog_decoded_ahead_is_applied_as_inline(
    db_url: str,
    settings: Settings,
    registry_url: str,
    sync_topics: SyncTopics,
    producer: EventProducer,
    tmp_path: Path,
) -> None:
    events = stream_events(1200, seed=5)
    for i in (150, 700):  # valid Avro, invalid content: no penalty category
        events[i] = copy.deepcopy(events[i])
        events[i]["penalty"]["penalty_categories"] = []
    producer.send_all(events)
    ahead = sync_settings(
        settings,
        registry_url=registry_url,
        db_url=db_url,
        topics=sync_topics,
        batch_size=100,
        decode_worker=True,
    )
    report = sync_until_idle(ahead, AGENCY)
    assert "wait for worker" in report.stages  # full batches: decoded by the worker

    inline_url = f"sqlite:///{tmp_path / 'inline.sqlite'}"
    inline = sync_settings(
        settings,
        registry_url=registry_url,
        db_url=inline_url,
        topics=sync_topics,
        decode_worker=False,
    )
    reference = sync_until_idle(inline, AGENCY)
    assert "wait for worker" not in reference.stages

    default = sync_settings(settings, registry_url=registry_url, db_url=db_url, topics=sync_topics)
    assert SyncTuning.of(default).decode_worker  # on unless turned off

    assert report.counts == reference.counts
    assert report.count(Outcome.REJECTED) >= 1
    sub = ahead.sync.subscription(AGENCY)
    diff = reconcile_databases(db_url, inline_url, (sub, sub), names=("ahead", "inline"))
    assert diff.identical, diff.lines()[:20]
    assert _log_by_offset(db_url) == _log_by_offset(inline_url)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_worker_exits_when_the_sync_process_is_killed(
    settings: Settings,
    registry_url: str,
    sync_topics: SyncTopics,
    producer: EventProducer,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    producer.send_all(stream_events(4000, seed=9))
    db_url = f"sqlite:///{tmp_path / 'killed.sqlite'}"
    s = sync_settings(settings, registry_url=registry_url, db_url=db_url, topics=sync_topics)
    s = s.model_copy(
        update={"sync": s.sync.model_copy(update={"group_id": f"kill-{uuid.uuid4().hex[:8]}"})}
    )
    env = {
        **sync_env(s, bootstrap=kafka_bootstrap, db_url=db_url),
        "CASEBUS_SYNC__DECODE_WORKER": "1",
    }
    process = start_sync(env, tmp_path / "log")
    children: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not children and time.monotonic() < deadline:  # the worker: its only child
            time.sleep(0.2)
            children = _children(process.pid)
        assert children, "no decode worker started"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        deadline = time.monotonic() + 15
        while any(_alive(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(c) for c in children), "worker outlived the killed sync"
    finally:
        if process.poll() is None:
            process.kill()
        for child in children:
            if _alive(child):
                os.kill(child, signal.SIGKILL)
