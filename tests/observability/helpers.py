"""Helpers of the observability tests: a real Prometheus server (Debian's `prometheus`,
installed by scripts/prometheus-up.sh) configured from config/prometheus/ for the test's
ports, its HTTP API, and polling a service's metrics port."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
import yaml

from casebus.config import PROJECT_ROOT
from tests.fixtures.kafka import free_port

SHIPPED = PROJECT_ROOT / "config" / "prometheus"
T = TypeVar("T")


def need(binary: str) -> str:
    found = shutil.which(binary)
    if found is None:
        pytest.skip(
            f"{binary} not installed (scripts/prometheus-up.sh installs Debian's prometheus)"
        )
    return found


def shortened_rules(text: str, *, window: str = "20s", hold: str = "2s") -> str:
    """The shipped rules with every range and `for:` shortened for a test; the expressions
    are otherwise the shipped ones."""
    text = re.sub(r"\[\d+[smhd]\]", f"[{window}]", text)
    return re.sub(r"(?m)^(\s*)for: \S+$", rf"\1for: {hold}", text)


def scrape_config(
    targets: Mapping[str, list[tuple[int, dict[str, str]]]], rules: Path
) -> dict[str, Any]:
    """The shipped scrape configuration, scraping every second the test's ports for the
    jobs in `targets` (job -> [(port, target labels)]) and no other job."""
    shipped = yaml.safe_load((SHIPPED / "prometheus.yml").read_text())
    shipped["global"] = {
        "scrape_interval": "1s",
        "evaluation_interval": "1s",
        "scrape_timeout": "1s",
    }
    shipped["rule_files"] = [str(rules)]
    jobs = []
    for job in shipped["scrape_configs"]:
        if job["job_name"] not in targets:
            continue
        job["static_configs"] = [
            {"targets": [f"127.0.0.1:{port}"], "labels": labels}
            for port, labels in targets[job["job_name"]]
        ]
        jobs.append(job)
    shipped["scrape_configs"] = jobs
    return shipped


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=5)
        answer.raise_for_status()
        body = answer.json()
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def scalar(self, expr: str) -> float | None:
        """The value of a query answering one series (None: no series)."""
        result = self.query(expr)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def alerts(self) -> list[dict[str, Any]]:
        answer = requests.get(f"{self.url}/api/v1/alerts", timeout=5)
        answer.raise_for_status()
        return list(answer.json()["data"]["alerts"])

    def targets_up(self) -> dict[str, str]:
        answer = requests.get(f"{self.url}/api/v1/targets", timeout=5)
        answer.raise_for_status()
        return {t["scrapeUrl"]: t["health"] for t in answer.json()["data"]["activeTargets"]}


@contextmanager
def prometheus(folder: Path, config: dict[str, Any], rules_text: str) -> Iterator[Prometheus]:
    """A Prometheus server of this test: its own config, storage and loopback port."""
    binary = need("prometheus")
    folder.mkdir(parents=True, exist_ok=True)
    rules = Path(config["rule_files"][0])
    rules.write_text(rules_text)
    config_file = folder / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    port = free_port()
    log = folder / "prometheus.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-lifecycle",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = Prometheus(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_for(lambda: _ready(server), 30, what="Prometheus ready", log=log)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready(server: Prometheus) -> bool:
    assert server.process.poll() is None, server.log.read_text()[-2000:]
    try:
        return requests.get(f"{server.url}/-/ready", timeout=1).ok
    except requests.RequestException:
        return False


def wait_for(
    probe: Callable[[], T | None], timeout: float, *, what: str, log: Path | None = None
) -> T:
    """The first truthy answer of `probe`, polled until `timeout` seconds passed."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.25)
    tail = log.read_text()[-3000:] if log is not None and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})\n{tail}")


def readyz(port: int) -> tuple[int, dict[str, Any]] | None:
    try:
        answer = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
    except requests.RequestException:
        return None
    return answer.status_code, answer.json()
