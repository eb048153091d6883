"""Fixtures of the console tests: the world a real sync filled (built once per session),
the console served over it by `casebus console serve`, signed-in HTTP clients, a browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from kafka import KafkaAdminClient

from casebus.process import ServiceProcess, start_service
from tests.console.world import PASSWORD, World, build_world
from tests.fixtures.kafka import free_port

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="session")
def world(
    kafka_admin: KafkaAdminClient,
    kafka_bootstrap: str,
    registry_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> World:
    var_dir = tmp_path_factory.mktemp("console") / "var"
    return build_world(kafka_admin, kafka_bootstrap, registry_url, var_dir)


@pytest.fixture(scope="session")
def console_url(world: World) -> Iterator[str]:
    """`casebus console serve` over the world's databases, as an operator starts it."""
    port = free_port()
    env = {
        **world.env,
        # The browser test locks one user out; the address limit stays out of its way.
        "CASEBUS_CONSOLE__MAX_FAILURES_PER_USER": "3",
        "CASEBUS_CONSOLE__MAX_FAILURES_PER_ADDRESS": "1000",
    }
    service: ServiceProcess = start_service(
        ["console", "serve", "--port", str(port)],
        url=f"http://127.0.0.1:{port}",
        log=world.var_dir / "logs" / "console.log",
        env=env,
        ready_path="/healthz",
    )
    yield service.url
    service.stop()


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, "no CSRF token in the page"
    return found.group(1)


def signed_in(url: str, user: str | None, password: str = PASSWORD) -> requests.Session:
    """An HTTP session of `user` (None: anonymous), redirects not followed by callers."""
    session = requests.Session()
    if user is None:
        return session
    form = session.get(f"{url}/login", timeout=10)
    answer = session.post(
        f"{url}/login",
        data={"username": user, "password": password, "csrf_token": csrf_of(form.text)},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303, answer.text
    return session


def screenshot_dir(tmp: Path) -> Path:
    folder = tmp / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
