"""`case show` follows case links: a cross-region case is shown whole, from either side."""

from __future__ import annotations

import io

from rich.console import Console

from casebus.config import Settings
from casebus.events import EventType
from cli.case import show_case
from services.sync.service import sync_until_idle
from tests.sync.helpers import EventProducer, action, penalty
from tests.sync.test_reconcile_and_case import CASE, QIJIANG, two_agencies  # noqa: F401

LINKED = "CASE-500110-2025-0042"  # the sample case link joins CASE to this Qijiang case
UNRELATED = "CASE-500110-2025-0999"


def test_linked_cases_are_shown_together(two_agencies: Settings, producer: EventProducer) -> None:  # noqa: F811
    producer.send_all(
        [
            penalty("P-luzhou"),
            penalty("P-qijiang", case_id=LINKED, owner=QIJIANG, region="500110"),
            penalty("P-other", case_id=UNRELATED, owner=QIJIANG, region="500110"),
            action(EventType.CASE_LINKED, "C-1"),
        ]
    )
    sync_until_idle(two_agencies, QIJIANG)

    for asked, other in ((CASE, LINKED), (LINKED, CASE)):
        out = io.StringIO()
        view = show_case(two_agencies, QIJIANG, asked, console=Console(file=out, width=220))
        assert view.linked_cases == [other]
        assert {(r.case_id, r.record_id) for r in view.records} == {
            (CASE, "P-luzhou"),
            (LINKED, "P-qijiang"),
            (CASE, "C-1"),
        }
        assert f"(linked: {other})" in out.getvalue()
        assert {e.record_id for e in view.timeline} == {"P-luzhou", "P-qijiang", "C-1"}
