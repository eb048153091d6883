"""Who gets which page, exactly: every page of the console for every role (anonymous, a
Luzhou clerk, a Qijiang clerk, an admin), against `casebus console serve` over databases a
real sync filled; and hostile text in a record shown escaped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests

from services.console.app import create_app
from tests.console.conftest import csrf_of, signed_in
from tests.console.world import (
    CROSS_CASE,
    HOSTILE_CASE,
    HOSTILE_PARTY,
    QIJIANG,
    World,
)

ROLES = ("anonymous", "luzhou", "qijiang", "admin")
QIJIANG_ONLY_RECORD = "/records/transfer/500110-SAMR/" + quote("綦市监移〔2024〕21号", safe="")
SHARED_RECORD = "/records/lead/510500-SAMR/XS-510500-2024-0153"

# path -> expected status per role, in ROLES order (303: to the sign-in or home page).
GETS: dict[str, tuple[int, int, int, int]] = {
    "/": (303, 303, 303, 303),
    "/login": (200, 303, 303, 303),
    "/healthz": (200, 200, 200, 200),
    "/static/console.css": (200, 200, 200, 200),
    "/cases": (303, 200, 200, 403),
    "/cases?q=" + quote("鑫源"): (303, 200, 200, 403),
    "/cases/" + CROSS_CASE: (303, 200, 200, 403),
    "/cases/" + HOSTILE_CASE: (303, 404, 200, 403),  # Qijiang's only
    "/cases/CASE-NOWHERE-0001": (303, 404, 404, 403),
    SHARED_RECORD: (303, 200, 200, 403),
    QIJIANG_ONLY_RECORD: (303, 404, 200, 403),
    "/transfers": (303, 200, 200, 403),
    "/rejects": (303, 200, 200, 403),
    "/admin": (303, 403, 403, 200),
    "/admin/replay": (303, 403, 403, 200),
    "/no-such-page": (404, 404, 404, 404),
}
# The route templates the table above covers: a new page must be added to it.
COVERED = {
    "/",
    "/login",
    "/logout",
    "/healthz",
    "/cases",
    "/cases/{case_id:path}",
    "/records/{kind}/{owner}/{record_id:path}",
    "/transfers",
    "/rejects",
    "/admin",
    "/admin/audit",
    "/admin/replay",
}


@pytest.fixture(scope="module")
def sessions(console_url: str) -> dict[str, requests.Session]:
    return {role: signed_in(console_url, None if role == "anonymous" else role) for role in ROLES}


@pytest.mark.parametrize("path", list(GETS))
def test_every_page_for_every_role(
    console_url: str, sessions: dict[str, requests.Session], path: str
) -> None:
    got = tuple(
        sessions[role].get(console_url + path, allow_redirects=False, timeout=30).status_code
        for role in ROLES
    )
    assert got == GETS[path], dict(zip(ROLES, got, strict=True))


def _post(url: str, session: requests.Session, path: str, data: dict[str, str]) -> int:
    token = csrf_of(session.get(f"{url}/login", timeout=10).text)
    answer = session.post(
        url + path, data={**data, "csrf_token": token}, allow_redirects=False, timeout=120
    )
    return answer.status_code


# POSTs with the session's own CSRF token; what admins start here is checked in the
# browser tests (a replay) and below (an audit).
POSTS: dict[str, tuple[dict[str, str], tuple[int, int, int, int]]] = {
    "/admin/replay": ({"agency": "", "case_id": CROSS_CASE}, (303, 403, 403, 400)),
    "/admin/audit": ({"agency": "510500-NOPE"}, (303, 403, 403, 400)),
}


@pytest.mark.parametrize("path", list(POSTS))
def test_every_form_for_every_role(console_url: str, path: str) -> None:
    data, expected = POSTS[path]
    got = tuple(
        _post(console_url, signed_in(console_url, None if r == "anonymous" else r), path, data)
        for r in ROLES
    )
    assert got == expected, dict(zip(ROLES, got, strict=True))


def test_sign_out_ends_the_session(console_url: str) -> None:
    session = signed_in(console_url, "qijiang")
    assert _post(console_url, session, "/logout", {}) == 303
    assert session.get(f"{console_url}/cases", allow_redirects=False).status_code == 303


def _routes(routes: list[Any]) -> Iterator[Any]:
    """Every route with an endpoint, those of included routers too."""
    for route in routes:
        if hasattr(route, "original_router"):
            yield from _routes(route.original_router.routes)
        elif hasattr(route, "endpoint"):
            yield route


def test_every_route_is_covered_and_declares_its_access(world: World) -> None:
    app = create_app(world.settings)
    routes = {r.path: r for r in _routes(app.routes)}
    assert set(routes) == COVERED
    for path, route in routes.items():
        assert getattr(route.endpoint, "access", None), path


def test_an_admin_runs_audit_verify_and_sees_its_result(console_url: str, world: World) -> None:
    admin = signed_in(console_url, "admin")
    assert _post(console_url, admin, "/admin/audit", {"agency": QIJIANG}) == 303
    page = admin.get(f"{console_url}/admin", timeout=60).text
    assert 'data-agency="500110-SAMR"' in page
    row = page.split('data-agency="500110-SAMR"', 1)[1].split("</tr>", 1)[0]
    assert "完整" in row and "admin" in row
    log = (world.var_dir / "console" / "actions.jsonl").read_text(encoding="utf-8")
    assert '"admin": "admin", "action": "audit verify", "agency": "500110-SAMR"' in log


def test_hostile_text_in_a_record_is_shown_escaped(console_url: str) -> None:
    qijiang = signed_in(console_url, "qijiang")
    pages = [
        qijiang.get(f"{console_url}/cases/{HOSTILE_CASE}", timeout=30).text,
        qijiang.get(f"{console_url}/cases", params={"q": "綦江某商行"}, timeout=30).text,
        qijiang.get(
            f"{console_url}/records/penalty/500110-SAMR/" + quote("綦市监处罚〔2025〕666号"),
            timeout=30,
        ).text,
    ]
    for page in pages:
        assert HOSTILE_PARTY not in page and "<script" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;綦江某商行" in page


def test_a_search_typed_with_markup_and_wildcards_is_inert(console_url: str) -> None:
    qijiang = signed_in(console_url, "qijiang")
    for q in ('"><script>alert(1)</script>', "%", "_", "' OR 1=1 --"):
        page = qijiang.get(f"{console_url}/cases", params={"q": q}, timeout=30)
        assert page.status_code == 200 and "<script>alert(1)" not in page.text
        assert 'class="hit"' not in page.text, q  # no case has these characters
