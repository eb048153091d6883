"""The `_schemas` log is the source of truth: ids survive restarts; processes agree."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from tests.fixtures.registry import admin_registry, start_registry, unique_schemas_topic


def schema(n: int) -> dict[str, Any]:
    return {
        "type": "record",
        "name": f"S{n}",
        "namespace": "t",
        "fields": [{"name": "x", "type": "long"}],
    }


def test_ids_survive_a_restart(kafka_bootstrap: str, tmp_path: Path) -> None:
    topic = unique_schemas_topic()
    first = start_registry(kafka_bootstrap, topic, tmp_path)
    try:
        client = admin_registry(first.url)
        ids = {n: client.register(f"s{n}-value", schema(n)) for n in range(3)}
    finally:
        first.stop()
    second = start_registry(kafka_bootstrap, topic, tmp_path)
    try:
        client = admin_registry(second.url)
        assert {n: client.register(f"s{n}-value", schema(n)) for n in range(3)} == ids
        assert client.get_schema(ids[1])
        assert client.register("s9-value", schema(9)) == max(ids.values()) + 1
        assert client.versions("s0-value") == [1]
    finally:
        second.stop()


def test_two_processes_registering_at_once_agree(kafka_bootstrap: str, tmp_path: Path) -> None:
    topic = unique_schemas_topic()
    a = start_registry(kafka_bootstrap, topic, tmp_path)
    b = start_registry(kafka_bootstrap, topic, tmp_path)
    try:
        results: dict[tuple[str, int], int] = {}
        barrier = threading.Barrier(2)

        def register(url: str, order: list[int]) -> None:
            client = admin_registry(url)
            barrier.wait()
            for n in order:
                results[(url, n)] = (
                    client.register("same-value", schema(n))
                    if n == 0
                    else client.register(f"s{n}-value", schema(n))
                )

        # Same schema at once, then other schemas in opposite orders.
        threads = [
            threading.Thread(target=register, args=(a.url, [0, 1, 2, 3])),
            threading.Thread(target=register, args=(b.url, [0, 3, 2, 1])),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        for n in range(4):
            assert results[(a.url, n)] == results[(b.url, n)], n
        assert sorted(results[(a.url, n)] for n in range(4)) == [1, 2, 3, 4]
        assert admin_registry(a.url).versions("same-value") == [1]
        assert admin_registry(b.url).versions("same-value") == [1]
    finally:
        a.stop()
        b.stop()


def test_a_schema_registered_elsewhere_is_found(kafka_bootstrap: str, tmp_path: Path) -> None:
    topic = unique_schemas_topic()
    a = start_registry(kafka_bootstrap, topic, tmp_path)
    b = start_registry(kafka_bootstrap, topic, tmp_path)
    try:
        schema_id = admin_registry(a.url).register("x-value", schema(5))
        assert admin_registry(b.url).get_schema(schema_id)
    finally:
        a.stop()
        b.stop()
