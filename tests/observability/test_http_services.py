"""Ingest and the registry as `casebus` processes: metrics, /healthz and /readyz on their own
metrics port, requests counted by route and status."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from casebus.process import start_service
from tests.fixtures.kafka import free_port
from tests.fixtures.registry import start_registry, unique_schemas_topic
from tests.observability.helpers import wait_for

TOKEN = "metrics-test-token"


def metric(port: int, line_start: str) -> float | None:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def ready(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_ingest_counts_requests_by_status_on_its_metrics_port(
    kafka_bootstrap: str, registry_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASEBUS_INGEST_TOKEN_510500_SAMR", TOKEN)
    port, metrics = free_port(), free_port()
    service = start_service(
        ["ingest", "serve", "--port", str(port), "--metrics-port", str(metrics)],
        url=f"http://127.0.0.1:{port}",
        ready_path="/openapi.json",
        log=tmp_path / "ingest.log",
        env={"CASEBUS_KAFKA_BOOTSTRAP": kafka_bootstrap, "CASEBUS_REGISTRY__URL": registry_url},
    )
    try:
        url = f"http://127.0.0.1:{port}/v1/events"
        assert requests.post(url, json={}, timeout=5).status_code == 401
        assert requests.post(url, json={}, timeout=5).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert requests.post(url, data=b"{", headers=auth, timeout=5).status_code == 422
        counted = 'casebus_http_requests_total{route="/v1/events",service="ingest",status="%s"}'
        assert metric(metrics, counted % "401") == 2
        assert metric(metrics, counted % "422") == 1
        assert wait_for(lambda: ready(metrics), 30, what="ingest /readyz 200", log=service.log)
        live = requests.get(f"http://127.0.0.1:{metrics}/healthz", timeout=5)
        assert (live.status_code, live.json()) == (200, {"status": "ok", "failing": {}})
    finally:
        service.stop()


def test_registry_serves_metrics_and_is_ready_while_kafka_answers(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = free_port()
    monkeypatch.setenv("CASEBUS_METRICS__ENABLED", "true")
    monkeypatch.setenv("CASEBUS_METRICS__REGISTRY_PORT", str(metrics))  # the port from config
    registry = start_registry(kafka_bootstrap, unique_schemas_topic(), tmp_path)
    try:
        assert requests.get(f"{registry.url}/subjects", timeout=5).status_code == 401
        assert wait_for(lambda: ready(metrics), 30, what="registry /readyz 200", log=registry.log)
        counted = 'casebus_http_requests_total{route="/subjects",service="registry",status="401"}'
        assert metric(metrics, counted) == 1
        assert (metric(metrics, "casebus_kafka_brokers_up") or 0) >= 1
    finally:
        registry.stop()
