"""The sandbox itself: deterministic seeded data, valid credit codes, auth, throttling."""

from __future__ import annotations

import requests

from casebus.config import Settings, load_settings
from casebus.contracts import uscc
from services.sandbox.data.world import SYSTEMS, build_world
from tests.fixtures.sandbox import SandboxFactory, advance, set_faults, truth


def test_same_seed_same_data_and_valid_codes() -> None:
    settings = load_settings()
    one, two = build_world(settings), build_world(settings)
    for system in SYSTEMS:
        assert [v.body for _, v in one[system].current(3)] == [
            v.body for _, v in two[system].current(3)
        ]
    for history in one["samr-luzhou"].histories:
        body = history.versions[0].body
        if history.kind == "penalty" and history.defect != "bad_check_digit":
            assert uscc.is_valid(body["party_uscc"]), body["party_uscc"]
    other = build_world(settings.model_copy(update={"sandbox": {**settings.sandbox, "seed": 7}}))
    assert [v.body for _, v in other["jd"].current(0)] != [v.body for _, v in one["jd"].current(0)]


def test_auth_throttle_and_clock(settings: Settings, sandbox_factory: SandboxFactory) -> None:
    handle = sandbox_factory(settings)
    url = handle.urls["samr-luzhou"] + "/api/v1/records"
    assert requests.get(url, timeout=5).status_code == 401
    key = handle.state.credentials["samr-luzhou"]
    assert requests.get(url, headers={"X-Api-Key": key}, timeout=5).status_code == 200

    before = {r["id"]: r["version"] for r in truth(handle, "samr-luzhou")}
    advance(handle, 3)
    after = {r["id"]: r["version"] for r in truth(handle, "samr-luzhou")}
    assert "綦市监处罚〔2024〕153号" not in before and len(after) > len(before)
    assert any(after[k] > v for k, v in before.items())  # amendments, status changes

    set_faults(handle, rate_limit_per_second=1, retry_after_seconds=2)
    answers = [requests.get(url, headers={"X-Api-Key": key}, timeout=5) for _ in range(4)]
    throttled = [a for a in answers if a.status_code == 429]
    assert throttled and throttled[0].headers["Retry-After"] == "2"
