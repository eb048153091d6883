"""The shipped Prometheus configuration and alert rules are valid for Prometheus's own
checker (promtool, from Debian's prometheus package)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.observability.helpers import SHIPPED, need, shortened_rules

pytestmark = pytest.mark.offline


def test_promtool_accepts_the_scrape_config_and_the_rules() -> None:
    promtool = need("promtool")
    for args in (["check", "config", "prometheus.yml"], ["check", "rules", "alerts.yml"]):
        done = subprocess.run([promtool, *args], cwd=SHIPPED, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_shortened_rules_keep_the_expressions(tmp_path: Path) -> None:
    promtool = need("promtool")
    text = (SHIPPED / "alerts.yml").read_text()
    short = shortened_rules(text)
    assert "[20s]" in short and "[5m]" not in short and "for: 2s" in short
    assert short.count("alert: ") == text.count("alert: ")
    (tmp_path / "alerts.yml").write_text(short)
    done = subprocess.run(
        [promtool, "check", "rules", str(tmp_path / "alerts.yml")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
