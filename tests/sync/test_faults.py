"""Fault injection against the real broker and databases (slow; part of `make test`).

Each test streams events while the sync runs as a real process, breaks something, lets it
recover, and checks the database against one synced without faults: reconcile identical,
and every offset in the event log exactly once (nothing lost, nothing applied twice).
"""

from __future__ import annotations

import random
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agencydb.chain import read_head
from agencydb.engine import make_engine
from agencydb.reconcile import reconcile_databases
from casebus.config import Settings
from casebus.kafka.broker import LocalKafka
from services.audit.verify import AuditReport, check_chain
from services.sync.service import sync_until_idle
from tests.fixtures.kafka import admin_client, create_topic
from tests.sync.faults import (
    AGENCY,
    PrivatePostgres,
    Streamer,
    end_started,
    offsets_logged_once,
    private_postgres,
    start_sync,
    stream_events,
    sync_env,
)
from tests.sync.helpers import SHARED, EventProducer, SyncTopics, read_topic, sync_settings

pytestmark = pytest.mark.slow


def assert_same_as_reference(settings: Settings, db_url: str, tmp_path: Path, events: int) -> None:
    reference_url = f"sqlite:///{tmp_path / 'reference.sqlite'}"
    reference = settings.model_copy(
        update={
            "sync": settings.sync.model_copy(
                update={"db_url": reference_url, "group_id": f"reference-{uuid.uuid4().hex[:8]}"}
            )
        }
    )
    assert sync_until_idle(reference, AGENCY).events == events
    sub = settings.sync.subscription(AGENCY)
    report = reconcile_databases(db_url, reference_url, (sub, sub), names=("faulty", "reference"))
    assert report.identical, report.lines()[:20]
    assert report.compared > 100
    assert offsets_logged_once(db_url) == (events, events)
    assert chain_follows(db_url) == events


def chain_follows(db_url: str) -> int:
    """The event log's rows, their chain walked as `casebus audit verify` walks it (its
    published heads left out: other tests' databases publish for the same agency)."""
    engine = make_engine(db_url)
    report = AuditReport(AGENCY, db_url)
    try:
        with engine.connect() as conn:
            report.head = read_head(conn)
            check_chain(conn, report, set())
    finally:
        engine.dispose()
    assert not report.problems, report.problems
    return report.rows


def finish(env: dict[str, str], log: Path) -> None:
    final = start_sync(env, log, until_idle=True)
    assert final.wait(timeout=180) == 0, log.read_text()[-3000:]


def test_sigkill_at_random_points_loses_and_repeats_nothing(
    settings: Settings,
    registry_url: str,
    sync_topics: SyncTopics,
    producer: EventProducer,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    db_url = f"sqlite:///{tmp_path / 'faulty.sqlite'}"
    s = sync_settings(settings, registry_url=registry_url, db_url=db_url, topics=sync_topics)
    env = sync_env(s, bootstrap=kafka_bootstrap, db_url=db_url)
    log = tmp_path / "sync.log"
    events = stream_events(4000)
    streamer = Streamer(producer, events, per_second=300)
    streamer.start()
    rng = random.Random()
    for _ in range(6):
        process = start_sync(env, log)
        time.sleep(rng.uniform(1.0, 2.5))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    streamer.join(timeout=120)
    assert streamer.error is None
    finish(env, log)
    assert_same_as_reference(s, db_url, tmp_path, len(events))


@pytest.fixture(autouse=True)
def _no_leftover_processes() -> Iterator[None]:
    yield
    end_started()


@pytest.fixture
def private_topics(private_broker: LocalKafka) -> SyncTopics:
    admin = admin_client(private_broker.bootstrap)
    suffix = uuid.uuid4().hex[:8]
    actual = {shared: f"{shared.split('.')[1]}.{suffix}" for shared in SHARED}
    bootstrap = private_broker.bootstrap
    for name in [*actual.values(), f"dlq.{suffix}"]:
        create_topic(admin, bootstrap, name, stands_for=name.split(".")[0], partitions=2)
    admin.close()
    return SyncTopics(actual, f"dlq.{suffix}")


def test_broker_restart_mid_stream(
    settings: Settings,
    registry_url: str,
    private_broker: LocalKafka,
    private_topics: SyncTopics,
    tmp_path: Path,
) -> None:
    bootstrap = private_broker.bootstrap
    db_url = f"sqlite:///{tmp_path / 'faulty.sqlite'}"
    s = sync_settings(settings, registry_url=registry_url, db_url=db_url, topics=private_topics)
    s = s.model_copy(update={"kafka": s.kafka.model_copy(update={"bootstrap": bootstrap})})
    env = sync_env(s, bootstrap=bootstrap, db_url=db_url)
    log = tmp_path / "sync.log"
    producer = EventProducer(bootstrap, registry_url, private_topics.actual, retries=1000)
    events = stream_events(3000, seed=11)
    streamer = Streamer(producer, events, per_second=300)
    process = start_sync(env, log)
    streamer.start()
    time.sleep(4)
    private_broker.stop()
    time.sleep(3)
    private_broker.start()
    streamer.join(timeout=180)
    assert streamer.error is None
    producer.close()
    time.sleep(3)
    process.send_signal(signal.SIGTERM)  # clean shutdown: finish the batch, commit, close
    assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
    finish(env, log)
    assert_same_as_reference(s, db_url, tmp_path, len(events))
    assert read_topic(bootstrap, private_topics.dlq, expected=0, timeout_s=1) == []


@pytest.fixture
def postgres_cluster() -> Iterator[PrivatePostgres]:
    yield from private_postgres()


def test_postgres_down_for_ten_seconds(
    settings: Settings,
    registry_url: str,
    sync_topics: SyncTopics,
    producer: EventProducer,
    kafka_bootstrap: str,
    postgres_cluster: PrivatePostgres,
    tmp_path: Path,
) -> None:
    db_url = postgres_cluster.url
    s = sync_settings(settings, registry_url=registry_url, db_url=db_url, topics=sync_topics)
    env = sync_env(s, bootstrap=kafka_bootstrap, db_url=db_url)
    log = tmp_path / "sync.log"
    events = stream_events(3000, seed=23)
    streamer = Streamer(producer, events, per_second=300)
    process = start_sync(env, log)
    streamer.start()
    time.sleep(4)
    postgres_cluster.stop()
    time.sleep(10)
    postgres_cluster.start()
    streamer.join(timeout=120)
    assert streamer.error is None
    time.sleep(3)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
    assert "transient fault" in log.read_text()  # it did notice the outage
    finish(env, log)
    assert_same_as_reference(s, db_url, tmp_path, len(events))
    assert read_topic(kafka_bootstrap, sync_topics.dlq, expected=0, timeout_s=1) == []
