"""Pages prepared in a worker process: the same events, rejects and checkpoints as in-process,
and a stop request still ends the run after a sent, acknowledged, checkpointed page."""

from __future__ import annotations

from casebus.config import Settings
from connectors.runner import ConnectorSet, run_connectors_once
from tests.fixtures.sandbox import SandboxFactory, read_events, read_rejects, sandboxed, truth

SHARED = ("casebus.penalty", "casebus.lead", "casebus.action")
NAME = "samr-luzhou"


def _with_worker(settings: Settings, page_size: int) -> Settings:
    connectors = tuple(
        c.model_copy(update={"page_size": page_size, "worker_min_page": 1})
        for c in settings.connectors
    )
    return settings.model_copy(update={"connectors": connectors})


def _published(settings: Settings) -> list[dict[str, object]]:
    topics = settings.connectors[0].topics
    return [e for t in SHARED for e in read_events(settings, topics[t])]


def test_worker_publishes_exactly_the_source_records(
    connector_settings: Settings, sandbox_factory: SandboxFactory
) -> None:
    handle = sandbox_factory(connector_settings)
    settings = _with_worker(sandboxed(connector_settings, handle), 3)
    report = run_connectors_once(settings, [NAME])[NAME]
    expected = truth(handle, NAME)
    valid = {(r["id"], r["version"]) for r in expected if r["defect"] is None}
    invalid = {r["id"] for r in expected if r["defect"] is not None}
    assert report.error is None and report.pages > 3
    assert invalid and report.rejected == len(invalid)
    events = _published(settings)
    assert sorted((e["record_id"], e["revision"]) for e in events) == sorted(valid)
    rejects = read_rejects(settings, settings.connectors[0].topics["casebus.rejects"])
    assert {r["source_record_id"] for r in rejects} == invalid

    again = run_connectors_once(settings, [NAME])[NAME]
    assert (again.error, again.published, again.rejected) == (None, 0, 0)


def test_stop_ends_the_run_after_a_checkpointed_page(
    connector_settings: Settings, sandbox_factory: SandboxFactory
) -> None:
    handle = sandbox_factory(connector_settings)
    settings = _with_worker(sandboxed(connector_settings, handle), 3)
    config = next(c for c in settings.connectors if c.name == NAME)
    group = ConnectorSet(settings, [config])
    try:
        group.stop.set()  # as SIGTERM does: the first page is sent, then the run ends
        first = group.run(config)
        assert first.error is None
        assert first.published + first.rejected == 3  # one page; pages fetched ahead dropped
        position = group.store.load(NAME)
        assert position is not None

        group.stop.clear()
        rest = group.run(config)
        assert rest.error is None
    finally:
        group.close()
    valid = {(r["id"], r["version"]) for r in truth(handle, NAME) if r["defect"] is None}
    events = _published(settings)
    # Nothing lost, nothing sent twice: the dropped pages were read again from the checkpoint.
    assert sorted((e["record_id"], e["revision"]) for e in events) == sorted(valid)
    assert first.published + rest.published == len(valid)
