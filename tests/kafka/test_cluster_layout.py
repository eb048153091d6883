"""The local cluster's layout, replication and health reading, as pure functions (offline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from casebus.config import LocalBroker, load_settings
from casebus.kafka.broker import jvm_options
from casebus.kafka.health import cluster_health
from casebus.kafka.topics import replication

pytestmark = pytest.mark.offline


def test_three_nodes_take_every_other_port() -> None:
    spec = LocalBroker(port=9092, controller_port=9093, nodes=3)
    assert spec.bootstrap == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert [spec.controller_port_of(n) for n in (1, 2, 3)] == [9093, 9095, 9097]
    assert LocalBroker().bootstrap == "127.0.0.1:9092"


def test_overlapping_ports_are_refused_naming_the_rule() -> None:
    with pytest.raises(ValueError, match="must differ for each of the 3 nodes"):
        LocalBroker(port=9092, controller_port=9094, nodes=3)


def test_the_jvm_compiles_with_its_first_tier_only_unless_full_jit() -> None:
    quick = jvm_options(LocalBroker(heap="256m"))
    assert "-XX:TieredStopAtLevel=1" in quick
    assert {"-Xmx256m", "-Xms256m"} <= set(quick)
    full = jvm_options(LocalBroker(heap="256m", full_jit=True))
    assert not any(o.startswith("-XX:TieredStopAtLevel") for o in full)
    assert [o for o in quick if "Tiered" not in o] == full
    settings = load_settings(kafka={"local": {"full_jit": True}})
    assert settings.kafka.local.full_jit and not load_settings().kafka.local.full_jit


@pytest.mark.parametrize(
    ("kafka", "expected"),
    [
        ({"local": {"nodes": 3}}, (3, 2)),
        ({"local": {"nodes": 1}}, (1, 1)),
        ({"local": {"nodes": 5}}, (3, 2)),
        ({"local": {"nodes": 3}, "replication_factor": 2}, (2, 1)),
        ({"local": {"nodes": 3}, "min_insync_replicas": 3}, (3, 3)),
    ],
)
def test_replication_follows_the_nodes_unless_configured(
    kafka: dict[str, Any], expected: tuple[int, int]
) -> None:
    got = replication(load_settings(kafka=kafka), admin=None)  # type: ignore[arg-type]
    assert (got.factor, got.min_insync) == expected


def test_commands_find_the_nodes_the_state_folder_holds(tmp_path: Path) -> None:
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "cluster.json").write_text(json.dumps({"nodes": 3}))
    settings = load_settings(var_dir=tmp_path)
    assert settings.kafka.local.node_count == 3
    assert settings.kafka.bootstrap_servers.count(",") == 2
    assert load_settings(var_dir=tmp_path / "none").kafka.local.node_count == 1


class _Described:
    """What kafka-python's admin client answers, as plain data."""

    def __init__(self, brokers: list[dict[str, Any]], partitions: list[dict[str, Any]]) -> None:
        self.brokers, self.partitions = brokers, partitions

    def describe_cluster(self) -> dict[str, Any]:
        return {"brokers": self.brokers}

    def describe_topics(self) -> list[dict[str, Any]]:
        return [{"name": "casebus.penalty", "partitions": self.partitions}]


def test_health_names_down_brokers_and_under_replicated_or_offline_partitions() -> None:
    brokers = [
        {"broker_id": 1, "is_fenced": False},
        {"broker_id": 2, "is_fenced": True},
        {"broker_id": 3, "is_fenced": False},
    ]
    parts = [
        {"partition_index": 0, "leader_id": 1, "replica_nodes": [1, 2, 3], "isr_nodes": [1, 3]},
        {"partition_index": 1, "leader_id": 3, "replica_nodes": [1, 2, 3], "isr_nodes": [1, 2, 3]},
        {"partition_index": 2, "leader_id": -1, "replica_nodes": [2], "isr_nodes": [2]},
    ]
    health = cluster_health(_Described(brokers, parts), 3)  # type: ignore[arg-type]
    assert health.live == (1, 3) and health.degraded
    assert health.under_replicated == ("casebus.penalty[0]",)
    assert health.offline == ("casebus.penalty[2]",)
    assert health.describe() == (
        "DEGRADED: 2 of 3 brokers up (1, 3); 3 partitions, 1 under-replicated, 1 offline "
        "(casebus.penalty[2])"
    )
    healthy = cluster_health(_Described(brokers[:1], parts[1:2]), 1)  # type: ignore[arg-type]
    assert not healthy.degraded


class _Found:
    """A FindCoordinator answer (v0-v3 shape) naming node 2."""

    coordinators = None
    error_code, node_id, host, port = 0, 2, "127.0.0.1", 9094


def test_a_coordinator_in_reconnect_backoff_is_asked_for_again_later() -> None:
    from kafka import KafkaConsumer
    from kafka.errors import CoordinatorNotAvailableError

    from casebus.kafka.clients import patient_coordinator_lookup

    consumer = KafkaConsumer(
        bootstrap_servers="127.0.0.1:1", group_id="g", api_version=(4, 0), client_id="t"
    )
    try:
        patient_coordinator_lookup(consumer)
        coordinator = consumer._coordinator
        backoff = {"coordinator-2": 0.8}
        client = coordinator._client
        client.is_disconnected = lambda node: True
        client.connection_delay = lambda node: backoff.get(node, 0)
        with pytest.raises(CoordinatorNotAvailableError):  # retriable: waited on, then asked
            coordinator._handle_find_coordinator_response(_Found())
        assert coordinator.coordinator_id is None
        backoff.clear()  # reachable again: taken
        assert coordinator._handle_find_coordinator_response(_Found()) == "coordinator-2"
    finally:
        consumer.close(autocommit=False)
