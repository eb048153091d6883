"""Every configured connector against the sandbox over HTTP: exactly the expected events,
nothing new on a second run, invalid records in the rejects topic with their reasons."""

from __future__ import annotations

from collections import Counter

from casebus.config import Settings
from casebus.events import stable_event_id
from connectors.runner import run_connectors_once
from tests.fixtures.sandbox import (
    SandboxFactory,
    advance,
    read_events,
    read_rejects,
    sandboxed,
    truth,
)

SHARED = ("casebus.penalty", "casebus.lead", "casebus.action")


def test_every_connector(connector_settings: Settings, sandbox_factory: SandboxFactory) -> None:
    handle = sandbox_factory(connector_settings)
    advance(handle, 3)  # every change, the cross-region case included
    settings = sandboxed(connector_settings, handle)
    topics = settings.connectors[0].topics

    reports = run_connectors_once(settings)
    assert all(r.error is None for r in reports.values()), reports
    events = [e for t in SHARED for e in read_events(settings, topics[t])]
    rejects = read_rejects(settings, topics["casebus.rejects"])

    for config in settings.connectors:
        system = config.base_url.rsplit("/", 1)[-1]
        expected = truth(handle, system)
        valid = {(r["id"], r["version"]) for r in expected if r["defect"] is None}
        invalid = {r["id"] for r in expected if r["defect"] is not None}
        ids = {r["id"] for r in expected}
        mine = [e for e in events if e["owner"] == config.owner]
        got = Counter((e["record_id"], e["revision"]) for e in mine if e["record_id"] in ids)
        assert set(got) == valid, config.name
        assert all(n == 1 for n in got.values()), config.name
        report = reports[config.name]
        assert report.rejected == len(invalid), config.name
        assert report.fetched == len(expected), config.name
        assert {r["source_record_id"] for r in rejects if r["connector"] == config.name} == invalid
        for e in mine:  # ids are derived from the record revision, nothing else
            assert str(e["event_id"]) == stable_event_id(
                e["owner"], e["record_id"], e["revision"], e["event_type"]
            )
        if config.module == "police":
            assert all(e["handling"] == "H3" for e in mine)

    for r in rejects:
        assert r["violations"] and all(
            {"field", "rule", "value", "message"} <= set(v) for v in r["violations"]
        )
        assert r["record"] and r["source_system"]

    # The cross-region case reached every topic from both regions.
    case = [e for e in events if e["case_id"].endswith("2024-0153")]
    assert {e["owner"] for e in case} == {"510500-CAC", "510500-SAMR", "500110-SAMR", "500110-PSB"}
    assert {"CASE_LINKED", "PENALTY_ISSUED", "TRANSFER_DECIDED", "LEAD_TRANSFERRED"} <= {
        e["event_type"] for e in case
    }

    again = run_connectors_once(settings)
    assert sum(r.published + r.rejected for r in again.values()) == 0
