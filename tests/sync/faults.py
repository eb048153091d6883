"""Helpers of the fault tests: a sync subprocess, a streaming producer, a private PostgreSQL."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from agencydb.engine import make_engine
from agencydb.models import EventLogEntry
from casebus.config import Settings
from casebus.events import Event
from tests.fixtures.kafka import free_port
from tests.sync.helpers import EventProducer, penalty

AGENCY = "500110-SAMR"


def stream_events(count: int, *, records: int = 400, seed: int = 7) -> list[Event]:
    """Penalties over many cases, revisions climbing with duplicates and stale ones mixed in."""
    rng = random.Random(seed)
    latest = [0] * records
    out = []
    for _ in range(count):
        i = rng.randrange(records)
        roll = rng.random()
        if roll < 0.6 or latest[i] == 0:
            latest[i] += 1
            revision = latest[i]
        elif roll < 0.85:
            revision = latest[i]  # duplicate
        else:
            revision = rng.randint(1, latest[i])  # stale (or duplicate)
        out.append(penalty(f"F-{i}", revision, case_id=f"CASE-F-{i % 37}"))
    return out


class Streamer(threading.Thread):
    """Sends events at a steady rate in the background."""

    def __init__(self, producer: EventProducer, events: list[Event], per_second: float) -> None:
        super().__init__(daemon=True)
        self.producer, self.events, self.per_second = producer, events, per_second
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            started = time.monotonic()
            for n, event in enumerate(self.events):
                self.producer.send(event)
                ahead = n / self.per_second - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            self.producer.flush()
        except BaseException as exc:  # surfaced by the test
            self.error = exc


def sync_env(
    settings: Settings, *, bootstrap: str, db_url: str, batch_size: int = 200
) -> dict[str, str]:
    """Environment for `python -m cli sync run` equal to `settings`' sync overrides."""
    return {
        **os.environ,
        "CASEBUS_KAFKA_BOOTSTRAP": bootstrap,
        "CASEBUS_VAR_DIR": str(settings.var_dir),
        "CASEBUS_REGISTRY__URL": settings.registry.url,
        "CASEBUS_SYNC__TOPICS": json.dumps(list(settings.sync.topics)),
        "CASEBUS_SYNC__DB_URL": db_url,
        "CASEBUS_SYNC__DLQ_TOPIC": settings.sync.dlq_topic,
        "CASEBUS_SYNC__GROUP_ID": settings.sync.group_id,
        "CASEBUS_SYNC__BATCH_SIZE": str(batch_size),
        "CASEBUS_SYNC__RETRY_MAX_SECONDS": "2",
        "CASEBUS_PROVENANCE__AUDIT_TOPIC": settings.provenance.audit_topic,
    }


STARTED: list[subprocess.Popen[bytes]] = []  # ended by `end_started` after each test


def start_sync(
    env: dict[str, str], log: Path, *, until_idle: bool = False
) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "cli", "sync", "run", AGENCY]
    with log.open("ab") as out:
        process = subprocess.Popen(
            args + (["--until-idle"] if until_idle else []),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    STARTED.append(process)
    return process


def end_started() -> None:
    """Kill sync processes a failed test left running."""
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


def offsets_logged_once(db_url: str) -> tuple[int, int]:
    """(event-log rows, distinct topic/partition/offset among them)."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.scalar(select(func.count()).select_from(EventLogEntry))
            distinct = conn.execute(
                select(
                    EventLogEntry.topic, EventLogEntry.partition, EventLogEntry.offset
                ).distinct()
            ).all()
    finally:
        engine.dispose()
    return int(rows or 0), len(distinct)


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of this test alone (never the shared `15 main`)."""

    name: str
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://casebus:casebus@127.0.0.1:{self.port}/agency"

    def _run(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args], check=True, cwd="/", capture_output=True
        )

    def create(self) -> None:
        self._run("pg_createcluster", "15", self.name, "-p", str(self.port))
        self.start()
        sql = "CREATE ROLE casebus LOGIN PASSWORD 'casebus' CREATEDB"
        self._run("psql", "-p", str(self.port), "-qc", sql)
        self._run("createdb", "-p", str(self.port), "-O", "casebus", "agency")

    def start(self) -> None:
        self._run("pg_ctlcluster", "15", self.name, "start")

    def stop(self) -> None:
        self._run("pg_ctlcluster", "15", self.name, "stop", "-m", "fast")

    def drop(self) -> None:
        self._run("pg_dropcluster", "--stop", "15", self.name)


def private_postgres() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres(f"cbfault{uuid.uuid4().hex[:8]}", free_port())
    cluster.create()
    try:
        yield cluster
    finally:
        cluster.drop()
