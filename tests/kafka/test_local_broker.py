"""`casebus kafka start|stop|status` against a real broker of the test's own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from casebus.config import Settings, load_settings
from casebus.kafka.broker import LocalKafka, port_freed, port_is_free
from casebus.kafka.clients import make_consumer, make_producer
from casebus.security.principals import admin
from casebus.security.setup import broker_security
from tests.fixtures.kafka import free_port


def casebus(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "CASEBUS_KAFKA_BOOTSTRAP"}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_start_twice_stop_frees_port_and_data_survives(tmp_path: Path) -> None:
    port, controller = free_port(), free_port()
    env = {
        "CASEBUS_VAR_DIR": str(tmp_path / "var"),
        "CASEBUS_KAFKA__LOCAL__PORT": str(port),
        "CASEBUS_KAFKA__LOCAL__CONTROLLER_PORT": str(controller),
    }
    settings = load_settings(
        var_dir=tmp_path / "var",
        kafka={"local": {"port": port, "controller_port": controller}},
    )
    try:
        first = casebus(env, "kafka", "start")
        assert first.returncode == 0, first.stderr
        assert "topic casebus.penalty: created" in first.stdout
        second = casebus(env, "kafka", "start")
        assert second.returncode == 0, second.stderr
        assert "topic casebus.penalty: exists" in second.stdout
        pid = re.search(r"pid (\d+)", first.stdout)
        assert pid and f"pid {pid.group(1)}" in second.stdout
        brokers = subprocess.run(
            ["pgrep", "-f", f"kafka.Kafka {tmp_path}"], capture_output=True, text=True, check=False
        ).stdout.split()
        assert brokers == [pid.group(1)]

        producer = make_producer(settings, "survivor", principal=admin(settings))
        producer.send("casebus.lead", key=b"case-1", value="线索".encode(), headers=[("h", b"1")])
        producer.flush()
        producer.close()

        stopped = casebus(env, "kafka", "stop")
        assert stopped.returncode == 0 and "broker stopped" in stopped.stdout
        assert port_is_free("127.0.0.1", port)
        assert casebus(env, "kafka", "status").returncode == 1

        assert casebus(env, "kafka", "start").returncode == 0
        assert [(r.key, r.value, list(r.headers)) for r in read_lead_topic(settings)] == [
            (b"case-1", "线索".encode(), [("h", b"1")])
        ]
    finally:
        casebus(env, "kafka", "stop")


def read_lead_topic(settings: Settings, timeout_s: float = 20.0) -> list[ConsumerRecord]:
    consumer = make_consumer(settings, None, "survivor-reader", principal=admin(settings))
    try:
        parts = [TopicPartition("casebus.lead", p) for p in range(6)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout_s
        while not records and time.monotonic() < deadline:
            records = [r for batch in consumer.poll(timeout_ms=1000).values() for r in batch]
        return records
    finally:
        consumer.close()


def test_port_taken_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        env = {
            "CASEBUS_VAR_DIR": str(tmp_path / "var"),
            "CASEBUS_KAFKA__LOCAL__PORT": str(taken),
            "CASEBUS_KAFKA__LOCAL__CONTROLLER_PORT": str(free_port()),
        }
        result = casebus(env, "kafka", "start")
    assert result.returncode == 2
    assert f"port 127.0.0.1:{taken} is already taken" in result.stderr


@pytest.mark.offline  # reads a folder: no broker, no Java
def test_status_of_a_broker_that_never_ran(tmp_path: Path) -> None:
    settings = load_settings()
    broker = LocalKafka(tmp_path, settings.kafka.local, broker_security(settings))
    assert broker.status().running is False


@pytest.mark.offline
def test_a_port_held_by_a_self_connected_client_is_waited_for() -> None:
    """A client dialling a dead node's port can be given that port as its own end (TCP's
    simultaneous open, connected to itself); the node's restart waits for it to be let go
    (then TIME_WAIT), where a port a server listens on fails the start at once."""
    import socket

    client = socket.socket()
    client.bind(("127.0.0.1", 0))
    port = client.getsockname()[1]
    client.connect(("127.0.0.1", port))
    assert client.getpeername() == ("127.0.0.1", port)
    assert not port_is_free("127.0.0.1", port)
    began = time.monotonic()
    assert not port_freed("127.0.0.1", port, 1.0)
    assert time.monotonic() - began >= 1.0  # waited, as for a connection's end
    client.close()
    assert not port_is_free("127.0.0.1", port)  # TIME_WAIT: still no bind

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        began = time.monotonic()
        assert not port_freed("127.0.0.1", server.getsockname()[1], 30)
        assert time.monotonic() - began < 5  # a listener: no wait
