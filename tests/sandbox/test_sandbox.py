"""The sandbox itself: deterministic seeded data, valid credit codes, auth, throttling, the
clock. No broker: a sandbox of each test's own, on the default deployment (offline)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from casebus.config import load_settings
from casebus.contracts import uscc
from casebus.personal import idcard
from services.sandbox.data.world import SYSTEMS, build_world
from services.sandbox.server import SandboxHandle
from tests.fixtures.sandbox import SandboxFactory, advance, set_faults, truth

pytestmark = pytest.mark.offline

SAMR = "samr-luzhou"
RECORDS = 20  # records_per_system: all of them visible at tick 0


@pytest.fixture
def handle(sandbox_factory: SandboxFactory) -> SandboxHandle:
    """A sandbox of this test's own: its clock, faults and rate buckets are untouched."""
    return sandbox_factory(load_settings(), records_per_system=RECORDS)


def _records_url(handle: SandboxHandle) -> str:
    return handle.urls[SAMR] + "/api/v1/records"


def _key(handle: SandboxHandle, system: str = SAMR) -> dict[str, str]:
    return {"X-Api-Key": handle.state.credentials[system]}


def _tick(handle: SandboxHandle, body: dict[str, Any]) -> Any:
    answer = requests.post(f"{handle.base_url}/admin/tick", json=body, timeout=5)
    answer.raise_for_status()
    return answer.json()


def test_same_seed_same_data_and_valid_codes() -> None:
    settings = load_settings()
    one, two = build_world(settings), build_world(settings)
    for system in SYSTEMS:
        assert [v.body for _, v in one[system].current(3)] == [
            v.body for _, v in two[system].current(3)
        ]
    for history in one["samr-luzhou"].histories:
        body = history.versions[0].body
        if history.kind != "penalty" or history.defect in ("bad_check_digit", "bad_id_check_digit"):
            continue
        if body["party_category"] == "自然人":  # a natural person: an identity number instead
            assert body["party_uscc"] is None
            assert idcard.problem(body["person_id_no"]) is None, body["person_id_no"]
        else:
            assert uscc.is_valid(body["party_uscc"]), body["party_uscc"]
    other = build_world(settings.model_copy(update={"sandbox": {**settings.sandbox, "seed": 7}}))
    assert [v.body for _, v in other["jd"].current(0)] != [v.body for _, v in one["jd"].current(0)]


def test_only_the_systems_own_api_key_is_accepted(handle: SandboxHandle) -> None:
    url = _records_url(handle)
    refused = {"detail": "invalid or missing API key"}
    for headers in ({}, {"X-Api-Key": "not-a-key"}, _key(handle, "samr-qijiang")):
        answer = requests.get(url, headers=headers, timeout=5)
        assert (answer.status_code, answer.json()) == (401, refused), headers
    answer = requests.get(url, headers=_key(handle), timeout=5)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["total"], body["page"], body["page_size"]) == (RECORDS, 1, 50)
    assert [r["seq"] for r in body["records"]] == list(range(1, RECORDS + 1))


def test_requests_over_the_rate_limit_get_429_and_retry_after(handle: SandboxHandle) -> None:
    """One request a second, a burst of one: of four at once, the first passes."""
    set_faults(handle, rate_limit_per_second=1, retry_after_seconds=2)
    answers = [
        requests.get(_records_url(handle), headers=_key(handle), timeout=5) for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [200, 429, 429, 429]
    for throttled in answers[1:]:
        assert throttled.headers["Retry-After"] == "2"
        assert throttled.json() == {"error": "rate limit exceeded"}
    stats = requests.get(f"{handle.base_url}/admin/stats", timeout=5).json()
    assert stats["systems"] == {SAMR: {"requests": 4, "throttled": 3, "failed": 0}}


def test_the_clock_moves_a_day_at_a_time_up_to_the_last_tick(handle: SandboxHandle) -> None:
    assert _tick(handle, {}) == {"tick": 1}  # no target: one day on
    assert _tick(handle, {"to": None}) == {"tick": 2}
    assert _tick(handle, {"to": 0}) == {"tick": 0}  # back to the start
    assert _tick(handle, {"to": 10}) == {"tick": 3}  # MAX_TICK: no day after the last
    assert _tick(handle, {}) == {"tick": 3}


def test_moving_the_clock_adds_records_and_new_versions(handle: SandboxHandle) -> None:
    """From tick 0 to 3 the Luzhou SAMR system amends 11 of its 20 records and adds the
    cross-region case's three (services/sandbox/data/cross_region.py); a pull of what
    changed since the last change number of tick 0 gets exactly those, in change order."""
    assert {(r["version"], r["seq"]) for r in truth(handle, SAMR)} == {
        (1, seq) for seq in range(1, RECORDS + 1)
    }
    advance(handle, 3)
    answer = requests.get(
        _records_url(handle), params={"since": RECORDS}, headers=_key(handle), timeout=5
    )
    assert answer.status_code == 200
    changed = answer.json()
    assert changed["total"] == 14
    assert [(r["kind"], r["id"], r["version"], r["seq"]) for r in changed["records"]] == [
        ("transfer", "泸市监移〔2024〕205号", 2, 21),
        ("transfer", "泸市监移〔2024〕212号", 2, 24),
        ("transfer", "泸市监移〔2024〕219号", 2, 27),
        ("penalty", "泸市监处罚〔2024〕200号", 2, 29),
        ("penalty", "泸市监处罚〔2024〕202号", 2, 30),
        ("lead", "XS-510500-2024-0210", 3, 31),
        ("lead", "XS-510500-2024-0211", 3, 32),
        ("lead", "XS-510500-2024-0217", 3, 33),
        ("lead", "XS-510500-2024-0153", 2, 35),  # the cross-region case: new
        ("transfer", "泸市监移〔2024〕153号", 1, 36),  # new
        ("case_link", "GL-510500-2024-0153", 1, 37),  # new
        ("penalty", "泸市监处罚〔2024〕214号", 2, 38),
        ("penalty", "泸市监处罚〔2024〕215号", 2, 39),
        ("lead", "XS-510500-2024-0218", 4, 40),
    ]
    after = {r["id"]: (r["version"], r["seq"]) for r in truth(handle, SAMR)}
    assert len(after) == RECORDS + 3
    assert {r["id"]: (r["version"], r["seq"]) for r in changed["records"]}.items() <= after.items()
