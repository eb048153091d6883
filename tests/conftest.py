"""Test-wide fixtures: real services started once per session, unique names per test.

Each area keeps its fixtures in tests/fixtures/<area>.py, loaded here as plugins.
"""

import os

import pytest

# Services the tests start (in process or as `casebus ...` children, which inherit this)
# serve no metrics unless a test gives them a --metrics-port: the configured ports
# (config/casebus.toml [metrics]) belong to a local deployment, and tests run side by side.
os.environ.setdefault("CASEBUS_METRICS__ENABLED", "false")

pytest_plugins = [
    "tests.fixtures.kafka",
    "tests.fixtures.registry",
    "tests.fixtures.databases",
    "tests.fixtures.sandbox",
    "tests.fixtures.keys",
]

# What an offline test (`make unit`) must not ask for: each needs Kafka or PostgreSQL.
_SERVER_FIXTURES = frozenset({"kafka_bootstrap", "kafka_admin", "registry_url", "pg_url"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse, at collection, an `offline` test that depends on a server fixture."""
    wrong = []
    for item in items:
        if item.get_closest_marker("offline") is None or item.get_closest_marker("postgres"):
            continue
        needs = _SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if needs:
            wrong.append(f"{item.nodeid}: {', '.join(sorted(needs))}")
    if wrong:
        raise pytest.UsageError("offline tests that need a server:\n" + "\n".join(wrong))
