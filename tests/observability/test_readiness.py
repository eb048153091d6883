"""`/readyz` of a real `casebus sync run` process: 503 naming the database while its
PostgreSQL (a cluster of this test alone) is stopped, 200 once it is back; and a sync
subscribed to a topic that does not exist is not ready, `casebus status` names the topic, and
`--until-idle` exits non-zero naming it."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from casebus.config import Settings
from casebus.kafka.clients import make_admin, make_consumer
from casebus.security.principals import REPLAY
from pipeline.status import sync_status
from tests.fixtures.kafka import free_port
from tests.observability.helpers import readyz, wait_for
from tests.sync.faults import (
    AGENCY,
    PrivatePostgres,
    end_started,
    private_postgres,
    start_sync,
    sync_env,
)
from tests.sync.helpers import EventProducer, SyncTopics, penalty, sync_settings

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _end_syncs() -> Iterator[None]:
    yield
    end_started()


@pytest.fixture
def cluster() -> Iterator[PrivatePostgres]:
    yield from private_postgres()


def metrics_env(env: dict[str, str], port: int) -> dict[str, str]:
    return {
        **env,
        "CASEBUS_METRICS__ENABLED": "true",
        "CASEBUS_METRICS__SYNC_PORTS": f'{{"{AGENCY}": {port}}}',
    }


def test_readyz_is_503_while_postgresql_is_stopped_and_200_once_it_is_back(
    settings: Settings,
    registry_url: str,
    sync_topics: SyncTopics,
    producer: EventProducer,
    kafka_bootstrap: str,
    cluster: PrivatePostgres,
    tmp_path: Path,
) -> None:
    s = sync_settings(settings, registry_url=registry_url, db_url=cluster.url, topics=sync_topics)
    port = free_port()
    # The port from config here (the other tests give --metrics-port).
    env = metrics_env(sync_env(s, bootstrap=kafka_bootstrap, db_url=cluster.url), port)
    env["CASEBUS_METRICS__CHECK_INTERVAL_SECONDS"] = "1"
    log = tmp_path / "sync.log"
    start_sync(env, log)
    producer.send_all(penalty(f"R-{i}") for i in range(20))

    def answer(status: int) -> dict[str, object] | None:
        got = readyz(port)
        return got[1] if got is not None and got[0] == status else None

    wait_for(lambda: answer(200), 90, what="/readyz 200", log=log)
    cluster.stop()
    try:
        down = wait_for(lambda: answer(503), 30, what="/readyz 503", log=log)
        failing = down["failing"]
        assert isinstance(failing, dict)
        assert failing["database"].startswith("database unreachable"), failing
        live = readyz(port)  # the process itself is alive: it waits for the database
        assert live is not None
    finally:
        cluster.start()
    back = wait_for(lambda: answer(200), 60, what="/readyz 200 again", log=log)
    assert back == {"status": "ok", "failing": {}}


def test_a_missing_topic_is_named_by_readyz_status_and_until_idle(
    settings: Settings,
    registry_url: str,
    sync_topics: SyncTopics,
    producer: EventProducer,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    missing = f"action.nosuch.{uuid.uuid4().hex[:8]}"
    topics = SyncTopics(
        {**sync_topics.actual, "casebus.action": missing}, sync_topics.dlq, sync_topics.audit
    )
    db_url = f"sqlite:///{tmp_path / 'agency.sqlite'}"
    s = sync_settings(settings, registry_url=registry_url, db_url=db_url, topics=topics)
    env = sync_env(s, bootstrap=kafka_bootstrap, db_url=db_url)
    producer.send_all(penalty(f"M-{i}") for i in range(5))

    until_idle = subprocess.run(
        [sys.executable, "-m", "cli", "sync", "run", AGENCY, "--until-idle"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert until_idle.returncode != 0, until_idle.stdout + until_idle.stderr
    assert f"NOT READ: {missing}" in until_idle.stdout
    assert (
        f"not caught up: subscribed topics missing or not readable by sync.{AGENCY}: {missing}"
        in until_idle.stderr
    )
    assert (
        f"subscribed topic {missing} does not exist or sync.{AGENCY} may not read it"
        in until_idle.stderr
    )

    port = free_port()
    log = tmp_path / "sync.log"
    args = [sys.executable, "-m", "cli", "sync", "run", AGENCY, "--metrics-port", str(port)]
    with log.open("ab") as out:
        running = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        got = wait_for(
            lambda: (a := readyz(port)) and a[0] == 503 and "topics" in a[1]["failing"] and a,
            60,
            what="/readyz 503 naming the topic",
            log=log,
        )
        assert got[1]["failing"]["topics"] == (
            f"subscribed topics missing or not readable by sync.{AGENCY}: {missing}"
        )
    finally:
        running.terminate()
        running.wait(timeout=30)

    consumer = make_consumer(s, None, "test-status", principal=REPLAY)
    admin: KafkaAdminClient = make_admin(s, client_id="test-status", principal=REPLAY)
    try:
        status = sync_status(s, AGENCY, consumer, admin)
    finally:
        consumer.close()
        admin.close()
    assert (status.state, status.missing) == ("missing topic", [missing])
    assert f"missing topics: {missing}" in status.detail
