"""A real Prometheus (Debian's package) scrapes a sync, the feeds and a connector runner
running as `casebus` processes against the real broker, with the shipped scrape
configuration (the test's ports, a 1 s interval) and the shipped alert rules (ranges and
`for:` shortened): the applied count equals what the database holds, lag goes to zero once
the sync caught up, and the stuck-sync alert fires when the sync is stopped with unread
events."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from agencydb.engine import make_engine
from agencydb.models import EventLogEntry
from casebus.config import Settings
from tests.feeds.helpers import feed_settings
from tests.fixtures.kafka import TopicFactory, free_port
from tests.fixtures.sandbox import SandboxFactory, read_topic, sandboxed
from tests.observability.helpers import (
    SHIPPED,
    Prometheus,
    need,
    prometheus,
    scrape_config,
    shortened_rules,
    wait_for,
)
from tests.sync.faults import sync_env
from tests.sync.helpers import SHARED, EventProducer, SyncTopics, penalty, sync_settings

pytestmark = pytest.mark.slow

AGENCY = "510500-SAMR"
CONNECTORS = ("samr-luzhou", "cac-luzhou")  # penalties and actions; leads (for the feeds)


class Processes:
    """`casebus` commands this test started, ended (killed if need be) when it ends."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.started = folder, list[subprocess.Popen[bytes]]()

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}.log").open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "cli", *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.started.append(process)
        return process

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text()[-3000:]

    def end(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.terminate()
        for process in self.started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    yield started
    started.end()


def feeds_env(settings: Settings, bootstrap: str) -> dict[str, str]:
    fs = settings.feeds
    return {
        **os.environ,
        "CASEBUS_KAFKA_BOOTSTRAP": bootstrap,
        "CASEBUS_VAR_DIR": str(settings.var_dir),
        "CASEBUS_REGISTRY__URL": settings.registry.url,
        "CASEBUS_FEEDS__SOURCE_TOPIC": fs.source_topic,
        "CASEBUS_FEEDS__TOPIC_PREFIX": fs.topic_prefix,
        "CASEBUS_FEEDS__STATE_TOPIC": fs.state_topic,
        "CASEBUS_FEEDS__DLQ_TOPIC": fs.dlq_topic,
        "CASEBUS_FEEDS__GROUP_ID": fs.group_id,
        "CASEBUS_FEEDS__TRANSACTIONAL_ID": fs.transactional_id,
    }


def connectors_env(settings: Settings, bootstrap: str) -> dict[str, str]:
    configs = [
        c.model_dump() | {"interval_seconds": 2}
        for c in settings.connectors
        if c.name in CONNECTORS
    ]
    return {
        **os.environ,
        "CASEBUS_KAFKA_BOOTSTRAP": bootstrap,
        "CASEBUS_VAR_DIR": str(settings.var_dir),
        "CASEBUS_REGISTRY__URL": settings.registry.url,
        "CASEBUS_CONNECTORS": json.dumps(configs),
    }


def applied_in(db_url: str) -> tuple[int, int]:
    """(events the database logged, of which applied)."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            logged = conn.scalar(select(func.count()).select_from(EventLogEntry))
            applied = conn.scalar(
                select(func.count())
                .select_from(EventLogEntry)
                .where(EventLogEntry.outcome == "applied")
            )
    finally:
        engine.dispose()
    return int(logged or 0), int(applied or 0)


def stuck_alerts(prom: Prometheus) -> list[dict[str, Any]]:
    """Active (pending or firing) CasebusSyncStuck alerts."""
    return [a for a in prom.alerts() if a["labels"]["alertname"] == "CasebusSyncStuck"]


def total(prom: Prometheus, expr: str) -> float | None:
    return prom.scalar(f"sum({expr})")


def test_prometheus_scrapes_sync_feeds_and_connector_and_alerts_on_a_stuck_sync(
    connector_settings: Settings,
    sandbox_factory: SandboxFactory,
    topic_factory: TopicFactory,
    registry_url: str,
    kafka_bootstrap: str,
    processes: Processes,
    tmp_path: Path,
) -> None:
    need("prometheus")
    handle = sandbox_factory(connector_settings)
    settings = sandboxed(connector_settings, handle)
    actual = settings.connectors[0].topics
    topics = SyncTopics(
        {s: actual[s] for s in SHARED}, topic_factory("dlq"), topic_factory("audit")
    )
    db_url = f"sqlite:///{tmp_path / 'agency.sqlite'}"
    synced = sync_settings(settings, registry_url=registry_url, db_url=db_url, topics=topics)
    feeds = feed_settings(settings, source_topic=actual["casebus.lead"], registry_url=registry_url)
    ports = {"sync": free_port(), "feeds": free_port(), "connectors": free_port()}
    config = scrape_config(
        {
            "casebus-sync": [(ports["sync"], {"agency": AGENCY})],
            "casebus-feeds": [(ports["feeds"], {})],
            "casebus-connectors": [(ports["connectors"], {})],
        },
        tmp_path / "alerts.yml",
    )
    rules = shortened_rules((SHIPPED / "alerts.yml").read_text())
    started = time.time()
    with prometheus(tmp_path / "prometheus", config, rules) as prom:
        sync_environment = sync_env(synced, bootstrap=kafka_bootstrap, db_url=db_url, batch_size=5)
        sync = processes.start(
            "sync",
            ["sync", "run", AGENCY, "--metrics-port", str(ports["sync"])],
            sync_environment,
        )
        processes.start(
            "feeds",
            ["feed", "run", "--metrics-port", str(ports["feeds"])],
            feeds_env(feeds, kafka_bootstrap),
        )
        connector = processes.start(
            "connectors",
            ["connectors", "run", *CONNECTORS, "--metrics-port", str(ports["connectors"])],
            connectors_env(settings, kafka_bootstrap),
        )
        wait_for(
            lambda: set(prom.targets_up().values()) == {"up"} and len(prom.targets_up()) == 3,
            90,
            what="every target up",
        )

        # The connectors ran (every 2 s; after the first run nothing is new).
        on_topics = {s: len(read_topic(settings, actual[s])) for s in SHARED}
        published = sum(on_topics.values())
        assert published > 0 and on_topics["casebus.lead"] > 0
        wait_for(
            lambda: total(prom, "casebus_connector_published_total") == published,
            60,
            what=f"{published} published events in Prometheus",
        )
        for system in ("samr-case-system", "cac-content-monitoring"):
            last = prom.scalar(
                f'casebus_connector_last_fetch_timestamp_seconds{{source_system="{system}"}}'
            )
            assert last is not None and last >= started, system
        assert (total(prom, "casebus_connector_fetched_total") or 0) > 0

        # The sync caught up: lag 0, every event counted once, as the database logged them.
        wait_for(
            lambda: (
                total(prom, "casebus_sync_events_total") == published
                and total(prom, 'casebus_consumergroup_lag{job="casebus-sync"}') == 0
            ),
            90,
            what="the sync caught up in Prometheus",
            log=tmp_path / "sync.log",
        )
        logged, applied = applied_in(db_url)
        assert logged == published
        assert total(prom, 'casebus_sync_events_total{outcome="applied"}') == applied > 0
        assert total(prom, 'casebus_consumergroup_lag_seconds{job="casebus-sync"}') == 0
        assert total(prom, "casebus_sync_batch_commit_seconds_count") is not None

        # The feeds decided every lead event and are caught up too.
        leads = on_topics["casebus.lead"]
        wait_for(
            lambda: (
                total(prom, "casebus_feed_events_total") == leads
                and total(prom, 'casebus_consumergroup_lag{job="casebus-feeds"}') == 0
            ),
            90,
            what="the feeds caught up in Prometheus",
            log=tmp_path / "feeds.log",
        )
        assert (total(prom, "casebus_feed_transactions_total") or 0) >= 1
        # Caught up, so not stuck. (Before its first commit a sync with a backlog is stuck
        # by the expression; the shipped `for: 5m` keeps that from firing, the test's 2 s
        # may not: wait until it is over, so that what fires below is new.)
        wait_for(lambda: not stuck_alerts(prom), 30, what="no CasebusSyncStuck alert")
        # The shipped dashboard's queries are valid PromQL (an invalid one answers 400).
        dashboard = json.loads((SHIPPED / "grafana-dashboard.json").read_text())
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                prom.query(target["expr"])

        # Stopped with unread events: the database held by the test (every commit waits on
        # it), events published, the lag seen by Prometheus, then the sync killed.
        connector.send_signal(signal.SIGTERM)
        assert connector.wait(timeout=60) == 0, processes.log("connectors")
        lock = sqlite3.connect(tmp_path / "agency.sqlite", timeout=30)
        try:
            lock.execute("BEGIN IMMEDIATE")
            producer = EventProducer(kafka_bootstrap, registry_url, topics.actual)
            try:
                producer.send_all(penalty(f"STUCK-{i}", case_id="CASE-STUCK") for i in range(200))
            finally:
                producer.close()
            lagging = wait_for(
                lambda: total(prom, 'casebus_consumergroup_lag{job="casebus-sync"}'),
                60,
                what="the sync's lag above zero in Prometheus",
            )
            assert 0 < lagging <= 200
            sync.kill()
            sync.wait()
        finally:
            lock.rollback()
            lock.close()
        firing = wait_for(
            lambda: [a for a in stuck_alerts(prom) if a["state"] == "firing"],
            60,
            what="CasebusSyncStuck firing",
        )
        assert firing[0]["labels"]["agency"] == AGENCY
