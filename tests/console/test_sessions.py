"""Sign-in, sessions, CSRF and throttling of the console app, in process (no broker, no
agency database needed): wrong passwords, lock-outs and their end, expired sessions, forms
without the session's token, a user removed while signed in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from casebus.config import Settings, load_settings
from services.console.app import create_app
from services.console.users import User, hash_password, save_user

pytestmark = pytest.mark.offline

PASSWORD = "a long enough password"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = load_settings(var_dir=tmp_path / "var")
    # No principal's secret here: nothing this app does may reach a broker.
    security = settings.kafka.security.model_copy(update={"secrets_dir": str(tmp_path / "none")})
    kafka = settings.kafka.model_copy(update={"security": security})
    console = {
        "session_max_age_seconds": 600,
        "max_failures_per_user": 3,
        "max_failures_per_address": 5,
        "throttle_window_seconds": 60,
    }
    users = tmp_path / "var" / "console" / "users.toml"
    for name, agency in (("qj", "500110-SAMR"), ("lz", "510500-SAMR"), ("root", None)):
        save_user(users, User(name, agency, hash_password(PASSWORD)))
    registry = settings.registry.model_copy(update={"url": "http://127.0.0.1:9"})  # closed
    return settings.model_copy(update={"console": console, "kafka": kafka, "registry": registry})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(settings: Settings, clock: Clock) -> TestClient:
    return TestClient(create_app(settings, clock=clock), follow_redirects=False)


def token(client: TestClient, path: str = "/login") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> int:
    form = {"username": name, "password": password, "csrf_token": token(client)}
    return client.post("/login", data=form).status_code


def test_right_and_wrong_passwords(client: TestClient) -> None:
    assert sign_in(client, "qj", "wrong password!") == 401
    assert sign_in(client, "nobody", PASSWORD) == 401
    assert (
        "用户名或密码错误"
        in client.post(
            "/login", data={"username": "qj", "password": "x", "csrf_token": token(client)}
        ).text
    )
    assert sign_in(client, "qj") == 303
    assert client.get("/transfers").status_code == 200


def test_repeated_failures_lock_the_user_out_until_the_window_passes(
    client: TestClient, clock: Clock
) -> None:
    for _ in range(3):
        assert sign_in(client, "qj", "wrong password!") == 401
    refused = client.post(
        "/login", data={"username": "qj", "password": PASSWORD, "csrf_token": token(client)}
    )
    assert refused.status_code == 429 and "登录失败次数过多，请 1 分钟后再试" in refused.text
    assert sign_in(client, "lz") == 303  # another user from the same address still may
    client.cookies.clear()
    clock.now += 61
    assert sign_in(client, "qj") == 303


def test_failures_from_one_address_lock_it_out_whatever_the_name(client: TestClient) -> None:
    for name in ("a1", "a2", "a3", "a4", "a5"):
        assert sign_in(client, name, "guess") == 401
    assert sign_in(client, "root") == 429


def test_a_session_ends_at_its_max_age(client: TestClient, clock: Clock) -> None:
    assert sign_in(client, "root") == 303
    clock.now += 599
    assert client.get("/admin/replay").status_code == 200
    clock.now += 2
    answer = client.get("/admin/replay")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")


def test_a_user_removed_or_moved_while_signed_in_is_signed_out(
    client: TestClient, settings: Settings
) -> None:
    assert sign_in(client, "qj") == 303
    users = settings.var_dir / "console" / "users.toml"
    save_user(users, User("qj", "510500-SAMR", hash_password(PASSWORD)))  # moved to Luzhou
    assert client.get("/cases").status_code == 303


def test_forms_without_the_sessions_csrf_token_are_refused(
    client: TestClient, settings: Settings
) -> None:
    form = {"username": "qj", "password": PASSWORD}
    assert client.post("/login", data=form).status_code == 403
    assert client.post("/login", data={**form, "csrf_token": "forged"}).status_code == 403
    other = TestClient(create_app(settings), follow_redirects=False)
    assert sign_in(client, "root") == 303
    assert sign_in(other, "root") == 303
    stolen = token(other, "/admin/replay")
    data = {"agency": "500110-SAMR", "case_id": "CASE-1", "csrf_token": stolen}
    assert client.post("/admin/replay", data=data).status_code == 403
    assert client.post("/logout", data={}).status_code == 403


def test_sign_in_keeps_only_local_targets(client: TestClient) -> None:
    form = {"username": "qj", "password": PASSWORD, "csrf_token": token(client)}
    for target, expected in (
        ("/transfers", "/transfers"),
        ("//evil.example", "/"),
        ("https://evil.example/", "/"),
    ):
        client.cookies.clear()
        form["csrf_token"] = token(client)
        answer = client.post("/login", data={**form, "next": target})
        assert answer.headers["location"] == expected


def test_pages_forbid_framing_and_scripts(client: TestClient) -> None:
    headers = client.get("/login").headers
    assert headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in headers["content-security-policy"]
    cookie = client.cookies.jar
    assert any(c.name == "casebus_console" for c in cookie)


def test_the_overview_answers_when_the_bus_cannot_be_read(client: TestClient) -> None:
    """No secret for the console's principal here: the page says so instead of failing."""
    assert sign_in(client, "root") == 303
    page = client.get("/admin")
    assert page.status_code == 200
    assert "无法连接" in page.text and "MissingSecret" in page.text
