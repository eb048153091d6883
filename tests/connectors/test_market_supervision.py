"""Market supervision connector against the sandbox over HTTP and the real broker."""

from __future__ import annotations

from casebus.config import Settings
from connectors.runner import run_connectors_once
from tests.fixtures.sandbox import (
    SandboxFactory,
    advance,
    read_events,
    read_rejects,
    sandboxed,
    truth,
)


def _topics(settings: Settings, name: str) -> dict[str, str]:
    return next(c.topics for c in settings.connectors if c.name == name)


def test_publishes_exactly_the_source_records(
    connector_settings: Settings, sandbox_factory: SandboxFactory
) -> None:
    handle = sandbox_factory(connector_settings)
    settings = sandboxed(connector_settings, handle)
    topics = _topics(settings, "samr-luzhou")

    report = run_connectors_once(settings, ["samr-luzhou"])["samr-luzhou"]
    expected = truth(handle, "samr-luzhou")
    valid = {(r["id"], r["version"]) for r in expected if r["defect"] is None}
    invalid = {r["id"] for r in expected if r["defect"] is not None}
    assert report.error is None
    assert invalid and report.rejected == len(invalid)
    events = [
        e
        for t in ("casebus.penalty", "casebus.lead", "casebus.action")
        for e in read_events(settings, topics[t])
    ]
    assert sorted((e["record_id"], e["revision"]) for e in events) == sorted(valid)
    assert all(e["owner"] == "510500-SAMR" for e in events)
    rejects = read_rejects(settings, topics["casebus.rejects"])
    assert {r["source_record_id"] for r in rejects} == invalid
    assert all(r["violations"] and r["violations"][0]["rule"] for r in rejects)

    # Nothing changed at the source: a second run publishes nothing.
    again = run_connectors_once(settings, ["samr-luzhou"])["samr-luzhou"]
    assert (again.published, again.rejected) == (0, 0)

    # The clock moves: amendments, revocations, status changes and the cross-region case
    # arrive as new revisions, and only those are published.
    advance(handle, 3)
    later = run_connectors_once(settings, ["samr-luzhou"])["samr-luzhou"]
    changed = {(r["id"], r["version"]) for r in truth(handle, "samr-luzhou") if not r["defect"]}
    assert later.published == len(changed - valid)
    events = [
        e
        for t in ("casebus.penalty", "casebus.lead", "casebus.action")
        for e in read_events(settings, topics[t])
    ]
    assert {(e["record_id"], e["revision"]) for e in events} == valid | changed
    types = {e["event_type"] for e in events}
    assert {"PENALTY_ISSUED", "PENALTY_AMENDED", "CASE_LINKED", "LEAD_TRANSFERRED"} <= types
