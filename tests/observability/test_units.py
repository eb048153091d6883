"""The pure pieces: lag in records and seconds, the readiness decision, the port choice, and
the observability server's answers (over a real loopback socket, no broker)."""

from __future__ import annotations

import json
import time

import pytest
import requests

from casebus.config import ConfigError, MetricsSettings
from casebus.observability.health import Health, Heartbeat, decide
from casebus.observability.lag import lag_records, lag_seconds, partition_lag
from casebus.observability.server import ObservabilityServer
from pipeline.observe import lag_verdict, missing_verdict

pytestmark = pytest.mark.offline


def test_lag_in_records_is_high_watermark_minus_position() -> None:
    assert lag_records(120, 100) == 20
    assert lag_records(100, 100) == 0
    assert lag_records(100, 104) == 0  # a position past a stale high watermark
    assert lag_records(None, 100) is None  # not fetched yet
    assert lag_records(100, None) is None


def test_lag_in_seconds_is_the_age_of_the_last_record_read_while_records_wait() -> None:
    now = 1_700_000_100.0
    assert lag_seconds(5, 1_700_000_040_000, now) == 60.0
    assert lag_seconds(0, 1_700_000_040_000, now) == 0.0  # caught up: 0, however old
    assert lag_seconds(5, None, now) is None  # nothing read of it yet
    assert lag_seconds(5, -1, now) is None  # a record without a timestamp
    assert lag_seconds(None, 1_700_000_040_000, now) is None
    assert lag_seconds(5, 1_700_000_200_000, now) == 0.0  # clock skew: never negative
    lag = partition_lag(
        "casebus.penalty", 3, highwater=10, position=7, last_timestamp_ms=1_700_000_090_000, now=now
    )
    assert (lag.topic, lag.partition, lag.records, lag.seconds) == ("casebus.penalty", 3, 3, 10.0)


def test_ready_only_when_every_check_passes_and_failing_ones_are_named() -> None:
    assert decide({"kafka": None, "database": None}).ok
    verdict = decide({"kafka": None, "database": "database unreachable: OperationalError"})
    assert not verdict.ok
    assert verdict.failing == {"database": "database unreachable: OperationalError"}
    assert verdict.body() == {"status": "failing", "failing": verdict.failing}


def test_a_check_not_answered_yet_fails_and_a_broken_check_names_itself() -> None:
    health = Health("test")
    health.expect("kafka")
    assert health.ready().failing == {"kafka": "not checked yet"}
    health.record("kafka", None)

    def broken() -> str | None:
        raise RuntimeError("boom")

    health.checks["broken"] = broken
    assert health.ready().failing == {"broken": "check broken failed: RuntimeError: boom"}


def test_live_while_the_heartbeat_is_recent_and_stuck_after() -> None:
    beat = Heartbeat("test-live")
    health = Health("test-live", beat, live_after=30)
    assert health.live().ok
    late = beat.last + 31
    assert health.live(late).failing == {"loop": "the loop last turned 31s ago"}
    assert "stuck" in health.ready(late).failing
    assert Health("no-loop").live().ok  # ingest, registry: live while they answer


def test_sync_readiness_lag_and_stuck() -> None:
    assert lag_verdict(0, ready_max_lag=100, idle_for=500, stuck_after=30) is None
    assert lag_verdict(50, ready_max_lag=100, idle_for=5, stuck_after=30) is None
    assert lag_verdict(500, ready_max_lag=100, idle_for=5, stuck_after=30) == (
        "lagging: 500 records unread (sync.ready_max_lag is 100)"
    )
    assert lag_verdict(5, ready_max_lag=100, idle_for=45, stuck_after=30) == (
        "stuck: 5 records unread and nothing committed for 45s"
    )
    assert missing_verdict([], "510500-SAMR") is None
    assert missing_verdict(["casebus.penalti"], "510500-SAMR") == (
        "subscribed topics missing or not readable by sync.510500-SAMR: casebus.penalti"
    )


def test_metrics_port_from_flag_else_config() -> None:
    config = MetricsSettings(feeds_port=9403, sync_ports={"510500-SAMR": 9411})
    assert config.port_for("feeds") == 9403
    assert config.port_for("feeds", 0) == 0  # --metrics-port 0: off
    assert config.port_for("feeds", 19403) == 19403
    assert config.port_for("sync 510500-SAMR") == 9411
    assert config.port_for("sync 500110-SAMR") == 0
    assert config.model_copy(update={"enabled": False}).port_for("feeds") == 0
    assert config.model_copy(update={"enabled": False}).port_for("feeds", 19403) == 19403


def test_server_answers_metrics_healthz_and_readyz() -> None:
    beat = Heartbeat("test-server")
    health = Health("test-server", beat, live_after=60)
    health.record("kafka", None)
    server = ObservabilityServer(health, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        metrics = requests.get(f"{base}/metrics", timeout=5)
        assert metrics.status_code == 200
        assert 'casebus_heartbeat_timestamp_seconds{service="test-server"}' in metrics.text
        ready = requests.get(f"{base}/readyz", timeout=5)
        assert (ready.status_code, ready.json()) == (200, {"status": "ok", "failing": {}})
        health.record("database", "database unreachable: OperationalError")
        ready = requests.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 503
        assert json.loads(ready.text)["failing"] == {
            "database": "database unreachable: OperationalError"
        }
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
        beat.last = time.time() - 120
        live = requests.get(f"{base}/healthz", timeout=5)
        assert live.status_code == 503
        assert live.json()["failing"]["loop"].startswith("the loop last turned 12")
        assert requests.get(f"{base}/nothing", timeout=5).status_code == 404
    finally:
        server.close()


def test_a_port_in_use_is_named_as_a_configuration_error() -> None:
    first = ObservabilityServer(Health("first"), "127.0.0.1", 0)
    try:
        with pytest.raises(
            ConfigError, match=f"second: cannot serve metrics on 127.0.0.1:{first.port}"
        ):
            ObservabilityServer(Health("second"), "127.0.0.1", first.port)
    finally:
        first.close()
