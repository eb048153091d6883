"""Faults: 429 and 5xx are ridden out; SIGKILL mid-run loses nothing and repeats keep ids."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from casebus.config import Settings
from connectors.runner import run_connectors_once
from tests.fixtures.sandbox import SandboxFactory, read_events, sandboxed, set_faults, truth

SHARED = ("casebus.penalty", "casebus.lead", "casebus.action")


def _small_pages(settings: Settings, size: int) -> Settings:
    connectors = tuple(c.model_copy(update={"page_size": size}) for c in settings.connectors)
    return settings.model_copy(update={"connectors": connectors})


def _published(settings: Settings) -> list[dict[str, object]]:
    topics = settings.connectors[0].topics
    return [e for t in SHARED for e in read_events(settings, topics[t])]


def test_rate_limits_and_server_errors_are_ridden_out(
    connector_settings: Settings, sandbox_factory: SandboxFactory
) -> None:
    handle = sandbox_factory(connector_settings, error_rate=0.25, rate_limit_per_second=4)
    settings = _small_pages(sandboxed(connector_settings, handle), 4)
    report = run_connectors_once(settings, ["samr-luzhou"])["samr-luzhou"]
    stats = handle.state.counters["samr-luzhou"]
    assert report.error is None
    assert report.retries > 0 and stats.failed > 0 and stats.throttled > 0
    valid = {(r["id"], r["version"]) for r in truth(handle, "samr-luzhou") if not r["defect"]}
    assert {(e["record_id"], e["revision"]) for e in _published(settings)} == valid


def test_sigkill_mid_run_loses_nothing_and_keeps_event_ids(
    connector_settings: Settings, sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    handle = sandbox_factory(connector_settings, latency_ms=150)
    settings = _small_pages(sandboxed(connector_settings, handle), 3)
    env = _connector_env(settings, "samr-luzhou")
    command = [sys.executable, "-m", "cli", "connectors", "run", "samr-luzhou", "--once"]
    checkpoints = settings.var_dir / "connectors" / "checkpoints.sqlite"

    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while _position(checkpoints) < 6:  # a couple of pages acknowledged and checkpointed
            assert first.poll() is None, first.stdout.read() if first.stdout else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    killed_at = _position(checkpoints)
    before = _published(settings)
    valid = {(r["id"], r["version"]) for r in truth(handle, "samr-luzhou") if not r["defect"]}
    assert 0 < len({(e["record_id"], e["revision"]) for e in before}) < len(valid)

    set_faults(handle, latency_ms=0)
    second = subprocess.run(command, env=env, capture_output=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    assert _position(checkpoints) > killed_at

    events = _published(settings)
    assert {(e["record_id"], e["revision"]) for e in events} == valid
    ids: dict[tuple[object, object], set[str]] = defaultdict(set)
    for e in events:
        ids[(e["record_id"], e["revision"])].add(str(e["event_id"]))
    assert all(len(v) == 1 for v in ids.values())  # re-published events kept their ids


def _connector_env(settings: Settings, name: str) -> dict[str, str]:
    """Environment for `python -m cli connectors run NAME` equal to `settings`."""
    config = next(c for c in settings.connectors if c.name == name)
    return {
        **os.environ,
        "CASEBUS_KAFKA_BOOTSTRAP": settings.kafka.bootstrap_servers,
        "CASEBUS_VAR_DIR": str(settings.var_dir),
        "CASEBUS_REGISTRY__URL": settings.registry.url,
        "CASEBUS_CONNECTORS": json.dumps([config.model_dump()]),
    }


def _position(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        try:
            row = db.execute(
                "SELECT position FROM checkpoint WHERE connector = 'samr-luzhou'"
            ).fetchone()
        except sqlite3.OperationalError:  # the runner has created the file, not the table yet
            return 0
    return int(row[0]) if row else 0


def test_sigterm_in_scheduled_mode_flushes_checkpoints_and_exits(
    connector_settings: Settings, sandbox_factory: SandboxFactory
) -> None:
    """The long-running scheduler, stopped mid-run: it finishes the page in hand, waits for
    the acks, checkpoints and exits 0; the next run repeats nothing."""
    handle = sandbox_factory(connector_settings, latency_ms=150)
    settings = _small_pages(sandboxed(connector_settings, handle), 3)
    env = _connector_env(settings, "samr-luzhou")
    checkpoints = settings.var_dir / "connectors" / "checkpoints.sqlite"
    scheduled = subprocess.Popen(
        [sys.executable, "-m", "cli", "connectors", "run", "samr-luzhou"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while _position(checkpoints) < 6:
            assert scheduled.poll() is None, scheduled.stdout.read() if scheduled.stdout else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        scheduled.send_signal(signal.SIGTERM)
        output = scheduled.communicate(timeout=30)[0].decode()
    finally:
        if scheduled.poll() is None:  # the test failed before the process ended
            scheduled.kill()
            scheduled.wait()
    assert scheduled.returncode == 0, output

    valid = {(r["id"], r["version"]) for r in truth(handle, "samr-luzhou") if not r["defect"]}
    stopped = [(e["record_id"], e["revision"]) for e in _published(settings)]
    assert 0 < len(stopped) < len(valid)

    set_faults(handle, latency_ms=0)
    rest = subprocess.run(
        [sys.executable, "-m", "cli", "connectors", "run", "samr-luzhou", "--once"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert rest.returncode == 0, rest.stdout + rest.stderr
    published = [(e["record_id"], e["revision"]) for e in _published(settings)]
    assert set(published) == valid
    assert len(published) == len(set(published))  # a clean stop repeats nothing
