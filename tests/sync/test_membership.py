"""Group membership against the real broker: what a restarted, added or starved sync reads.

Each sync runs as a real process (`python -m cli sync run`), as an operator runs it.
"""

from __future__ import annotations

import random
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewPartitions, NewTopic
from kafka.coordinator.assignors.abstract import (
    AbstractPartitionAssignor,
    ConsumerProtocolAssignment,
    ConsumerProtocolSubscription,
)

from agencydb.engine import open_database
from casebus.config import Settings
from pipeline.sources import GroupSource
from tests.fixtures.kafka import TopicFactory, grant_plan, harness
from tests.sync.faults import (
    Streamer,
    end_started,
    offsets_logged_once,
    start_sync,
    stream_events,
    sync_env,
)
from tests.sync.helpers import EventProducer, SyncTopics, penalty, records, sync_settings
from tests.sync.test_faults import assert_same_as_reference, finish

pytestmark = pytest.mark.slow

SESSION_S = 10  # the sync's default session timeout (SyncTuning.session_timeout_ms)
# Longest a started sync may hold no partitions: a SIGKILLed predecessor's session running
# out, then one rebalance.
ASSIGNED_WITHIN_S = SESSION_S + 15


@pytest.fixture(autouse=True)
def _no_leftover_processes() -> Iterator[None]:
    yield
    end_started()


@dataclass(frozen=True)
class Agency:
    """AGENCY synced into a SQLite file of the test's own, on the test's topics."""

    db_url: str
    settings: Settings
    env: dict[str, str]  # for `python -m cli sync run`


@pytest.fixture
def agency(
    settings: Settings,
    registry_url: str,
    sync_topics: SyncTopics,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> Agency:
    db_url = f"sqlite:///{tmp_path / 'agency.sqlite'}"
    s = sync_settings(settings, registry_url=registry_url, db_url=db_url, topics=sync_topics)
    return Agency(db_url, s, sync_env(s, bootstrap=kafka_bootstrap, db_url=db_url))


def _wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout:.0f}s: {what}")


def _stored(db_url: str) -> int:
    try:
        return len(records(db_url))
    except Exception:  # the database is created by the sync itself
        return 0


_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*assigned \[", re.M)


def _first_assignment(log: Path) -> datetime | None:
    found = _STAMP.search(log.read_text())
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f") if found else None


def test_partitions_added_while_down_are_read_after_an_immediate_restart(
    agency: Agency,
    sync_topics: SyncTopics,
    producer: EventProducer,
    kafka_bootstrap: str,
    kafka_admin: KafkaAdminClient,
    tmp_path: Path,
) -> None:
    db_url, env = agency.db_url, dict(agency.env)
    log = tmp_path / "sync.log"
    first = [penalty(f"A-{i}", case_id=f"CASE-A-{i}") for i in range(200)]
    producer.send_all(first)
    process = start_sync(env, log)
    _wait_for(lambda: _stored(db_url) == 200, 60, "the first 200 records applied")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)

    topic = sync_topics.actual["casebus.penalty"]
    kafka_admin.create_partitions({topic: NewPartitions(total_count=4)})
    time.sleep(1)  # the producer's metadata learns the new partitions
    producer.producer._metadata.request_update()
    later = [penalty(f"B-{i}", case_id=f"CASE-B-{i}") for i in range(400)]
    producer.send_all(later)
    probe = KafkaConsumer(**harness(kafka_bootstrap))
    try:
        ends = probe.end_offsets([TopicPartition(topic, p) for p in (2, 3)])
    finally:
        probe.close()
    assert sum(ends.values()) > 100, ends  # the new partitions did get events

    restarted = start_sync(env, log, until_idle=True)  # at once: within the session timeout
    assert restarted.wait(timeout=120) == 0, log.read_text()[-3000:]
    assert _stored(db_url) == 600
    assert offsets_logged_once(db_url) == (600, 600)
    summary = log.read_text().strip().splitlines()[-1]
    assert "caught up on " in summary and f"{topic}[0-3]" in summary, summary


def test_topic_created_while_the_sync_runs_is_read(
    settings: Settings,
    registry_url: str,
    sync_topics: SyncTopics,
    kafka_bootstrap: str,
    kafka_admin: KafkaAdminClient,
    tmp_path: Path,
) -> None:
    late = f"late.penalty.{tmp_path.name[-12:]}.{random.randrange(10**6)}"
    topics = SyncTopics({**sync_topics.actual, "casebus.penalty": late}, sync_topics.dlq)
    db_url = f"sqlite:///{tmp_path / 'agency.sqlite'}"
    s = sync_settings(settings, registry_url=registry_url, db_url=db_url, topics=topics)
    env = sync_env(s, bootstrap=kafka_bootstrap, db_url=db_url)
    # As in a deployment: config names the topic, so its ACLs exist before the topic does.
    grant_plan(s)
    log = tmp_path / "sync.log"
    start_sync(env, log)
    _wait_for(lambda: _first_assignment(log) is not None, ASSIGNED_WITHIN_S, "joined")
    kafka_admin.create_topics([NewTopic(late, 3, 1)])
    producer = EventProducer(kafka_bootstrap, registry_url, topics.actual)
    try:
        producer.send_all(penalty(f"L-{i}", case_id=f"CASE-L-{i}") for i in range(300))
    finally:
        producer.close()
    _wait_for(lambda: _stored(db_url) == 300, 60, "the new topic's 300 events applied")
    assert offsets_logged_once(db_url) == (300, 300)


def test_kill_and_restart_at_random_points_never_holds_nothing_for_long(
    agency: Agency,
    producer: EventProducer,
    tmp_path: Path,
) -> None:
    db_url, s, env = agency.db_url, agency.settings, dict(agency.env)
    events = stream_events(4500, seed=31)
    streamer = Streamer(producer, events, per_second=150)
    streamer.start()
    rng = random.Random()
    lives = [rng.uniform(0.2, 2.0) for _ in range(4)] + [rng.uniform(4.0, 9.0) for _ in range(4)]
    rng.shuffle(lives)
    logs = []
    for n, life in enumerate(lives):
        log = tmp_path / f"sync-{n}.log"
        started = datetime.now()
        process = start_sync(env, log)
        time.sleep(life)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        logs.append((log, started, life))
    # The last one lives until it must have been assigned partitions.
    log = tmp_path / "sync-last.log"
    started = datetime.now()
    process = start_sync(env, log)
    _wait_for(lambda: _first_assignment(log) is not None, ASSIGNED_WITHIN_S, "assigned")
    logs.append((log, started, float(ASSIGNED_WITHIN_S)))
    for each, began, life in logs:
        assigned = _first_assignment(each)
        if life >= ASSIGNED_WITHIN_S:
            assert assigned is not None, each.read_text()[-2000:]
        if assigned is not None:
            assert (assigned - began).total_seconds() < ASSIGNED_WITHIN_S
        assert "stuck:" not in each.read_text()
    streamer.join(timeout=120)
    assert streamer.error is None
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
    finish(env, tmp_path / "sync-final.log")
    assert_same_as_reference(s, db_url, tmp_path, len(events))


@pytest.mark.postgres
def test_two_processes_share_the_work_and_survive_a_kill(
    settings: Settings,
    registry_url: str,
    topic_factory: TopicFactory,
    kafka_bootstrap: str,
    pg_url: str,
    tmp_path: Path,
) -> None:
    actual = {
        "casebus.penalty": topic_factory("penalty", partitions=4),
        "casebus.lead": topic_factory("lead", partitions=2),
        "casebus.action": topic_factory("action", partitions=2),
    }
    topics = SyncTopics(actual, topic_factory("dlq"))
    s = sync_settings(settings, registry_url=registry_url, db_url=pg_url, topics=topics)
    env = sync_env(s, bootstrap=kafka_bootstrap, db_url=pg_url)
    producer = EventProducer(kafka_bootstrap, registry_url, actual)
    events = stream_events(5000, seed=41)
    streamer = Streamer(producer, events, per_second=200)
    a = start_sync(env, tmp_path / "a.log")
    b = start_sync(env, tmp_path / "b.log")
    streamer.start()
    for log in (tmp_path / "a.log", tmp_path / "b.log"):
        _wait_for(lambda log=log: _first_assignment(log) is not None, ASSIGNED_WITHIN_S, "both")
    time.sleep(4)
    b.send_signal(signal.SIGKILL)  # mid-stream: its partitions go to a, then back to b2
    b.wait(timeout=10)
    b = start_sync(env, tmp_path / "b2.log")
    streamer.join(timeout=120)
    assert streamer.error is None
    producer.close()
    time.sleep(3)
    for process in (a, b):
        process.send_signal(signal.SIGTERM)
    for process, name in ((a, "a"), (b, "b2")):
        code = process.wait(timeout=60)
        log_text = (tmp_path / f"{name}.log").read_text()
        assert code == 0, log_text[-3000:]
        assert " ERROR services." not in log_text, log_text[-3000:]
        applied = re.search(r"applied (\d+),", log_text.strip().splitlines()[-1])
        assert applied and int(applied.group(1)) > 0, log_text[-1000:]  # both did work
    finish(env, tmp_path / "final.log")
    assert_same_as_reference(s, pg_url, tmp_path, len(events))


def test_a_second_process_on_sqlite_is_refused(agency: Agency, tmp_path: Path) -> None:
    env = dict(agency.env)
    first = start_sync(env, tmp_path / "first.log")
    lock = tmp_path / "agency.sqlite.sync-lock"
    _wait_for(lambda: lock.exists() and lock.read_text().strip() == str(first.pid), 30, "lock")
    second = start_sync(env, tmp_path / "second.log", until_idle=True)
    assert second.wait(timeout=60) == 2
    message = (tmp_path / "second.log").read_text()
    assert f"already synced by another process (pid {first.pid})" in message, message
    assert "use PostgreSQL to run several" in message
    assert first.poll() is None  # the first one is untouched


class _Hog(AbstractPartitionAssignor):
    """A group leader that hands every partition to itself: the member beside it starves."""

    name = "range"  # the protocol the sync also speaks, so the broker picks this one
    version = 0

    @classmethod
    def assign(cls, cluster, members):  # type: ignore[no-untyped-def]
        mine = next(m.member_id for m in members if m.metadata.user_data == b"hog")
        topics = sorted({t for m in members for t in m.metadata.topics})
        owned = [(t, sorted(cluster.partitions_for_topic(t) or ())) for t in topics]
        empty = ConsumerProtocolAssignment(cls.version, [], b"")
        return {
            m.member_id: ConsumerProtocolAssignment(cls.version, owned, b"")
            if m.member_id == mine
            else empty
            for m in members
        }

    @classmethod
    def metadata(cls, topics):  # type: ignore[no-untyped-def]
        return ConsumerProtocolSubscription(cls.version, list(topics), b"hog")

    @classmethod
    def on_assignment(cls, assignment, generation):  # type: ignore[no-untyped-def]
        pass


def test_a_member_left_with_nothing_while_events_wait_warns_and_rejoins(
    agency: Agency,
    sync_topics: SyncTopics,
    producer: EventProducer,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    db_url, s, env = agency.db_url, agency.settings, dict(agency.env)
    env["CASEBUS_SYNC__STUCK_AFTER_SECONDS"] = "5"
    producer.send_all(penalty(f"H-{i}", case_id=f"CASE-H-{i}") for i in range(100))
    hog = KafkaConsumer(
        *sync_topics.actual.values(),
        **harness(kafka_bootstrap),
        group_id=s.sync.group_id,
        partition_assignment_strategy=[_Hog],
        enable_auto_commit=False,
        session_timeout_ms=10_000,
    )
    stop = threading.Event()

    def keep_polling() -> None:
        while not stop.is_set():
            hog.poll(timeout_ms=200)

    poller = threading.Thread(target=keep_polling, daemon=True)
    try:
        _wait_for(lambda: hog.poll(timeout_ms=200) is not None and hog.assignment(), 30, "hog")
        poller.start()
        log = tmp_path / "sync.log"
        process = start_sync(env, log)
        _wait_for(lambda: "stuck:" in log.read_text(), 45, "the stuck warning")
        text = log.read_text()
        assert re.search(
            r"stuck: holding no partitions for 5s while \d+ partitions have 100 "
            r"unread events .*; rejoining the group",
            text,
        ), text[-2000:]
        assert _stored(db_url) == 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        stop.set()
        if poller.is_alive():
            poller.join(timeout=5)
        hog.close()
    # With the hog gone, a sync reads everything.
    final = start_sync(env, tmp_path / "final.log", until_idle=True)
    assert final.wait(timeout=120) == 0
    assert _stored(db_url) == 100


def test_sigterm_then_restart_is_immediate(
    agency: Agency,
    producer: EventProducer,
    tmp_path: Path,
) -> None:
    """A clean stop leaves the group, so the next process is assigned at once (no wait for
    a session to time out)."""
    # A long session, so that waiting for it to time out cannot pass for a start-up slowed
    # by a busy machine (a start takes 2-6 s here).
    session_s = 30
    db_url = agency.db_url
    env = {**agency.env, "CASEBUS_SYNC__SESSION_TIMEOUT_MS": str(session_s * 1000)}
    producer.send_all(penalty(f"T-{i}", case_id=f"CASE-T-{i}") for i in range(50))
    log = tmp_path / "one.log"
    one = start_sync(env, log)
    _wait_for(lambda: _first_assignment(log) is not None, ASSIGNED_WITHIN_S, "assigned")
    one.send_signal(signal.SIGTERM)
    assert one.wait(timeout=30) == 0
    started = datetime.now()
    log = tmp_path / "two.log"
    two = start_sync(env, log)
    _wait_for(lambda: _first_assignment(log) is not None, session_s, "assigned again")
    assigned = _first_assignment(log)
    assert assigned is not None and (assigned - started).total_seconds() < session_s / 2
    two.send_signal(signal.SIGTERM)
    assert two.wait(timeout=30) == 0
    assert _stored(db_url) == 50


def test_a_member_whose_client_stops_fetching_gets_a_new_one(
    agency: Agency,
    sync_topics: SyncTopics,
    producer: EventProducer,
    kafka_bootstrap: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A client holding partitions with unread records that fetches nothing (as kafka-python
    did under node kills, left with a stale leader) is replaced; an idle one is not. The
    wedge is made by pausing the first client's partitions behind the source's back."""
    s = agency.settings
    engine = open_database(agency.db_url)
    made: list[KafkaConsumer] = []

    def connect() -> KafkaConsumer:
        made.append(
            KafkaConsumer(
                **harness(kafka_bootstrap),
                group_id=s.sync.group_id,
                enable_auto_commit=False,
                isolation_level="read_committed",
            )
        )
        return made[-1]

    topics = list(sync_topics.actual.values())
    source = GroupSource(
        connect,
        engine,
        s.sync.group_id,
        topics,
        batch_size=500,
        poll_timeout_ms=200,
        stuck_after=2,
    )
    stop = threading.Event()
    fetched: list[tuple[str, int, int]] = []

    def poll_for(seconds: float) -> int:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            fetched.extend((r.topic, r.partition, r.offset) for r in source.poll(stop))
        return len(fetched)

    try:
        _wait_for(lambda: poll_for(0.5) == 0 and source.consumer.assignment(), 30, "an assignment")
        poll_for(5)  # idle, read to the end: checked, not replaced
        assert source.watch.replacements == 0 and len(made) == 1 and not fetched
        wedged = made[0]
        wedged.pause(*wedged.assignment())
        producer.send_all(penalty(f"W-{i}", case_id=f"CASE-W-{i}") for i in range(40))
        _wait_for(lambda: poll_for(0.5) >= 40, 60, "the events fetched")
    finally:
        source.close()
        engine.dispose()
    assert source.watch.replacements == 1 and len(made) == 2, caplog.text[-2000:]
    assert len(fetched) == len(set(fetched)) == 40
    assert re.search(
        r"stalled: holding \d+ partitions with 40 unread records .*nothing fetched for 2s; "
        r"replacing the Kafka client",
        caplog.text,
    ), caplog.text[-2000:]
