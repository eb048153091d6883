"""Transfer deadlines (order 310) as a pure function of a transfer's row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agencydb.transfers import steps

pytestmark = pytest.mark.offline
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


OPEN = (
    "approved_at",
    "sent_at",
    "decision",
    "decided_at",
    "reconsideration_requested_at",
    "seized_items_handed_over_at",
    "decide_due",
    "send_due",
    "file_decision_due",
    "reconsideration_due",
    "seized_items_due",
)


def row(**values: Any) -> dict[str, Any]:
    return {**dict.fromkeys(OPEN), "materials": [], **values}


def test_each_open_step_has_its_deadline() -> None:
    assert list(steps(row(), T0)) == [("decide whether to transfer", T0 + timedelta(days=3))]
    approved = row(approved_at=T0)
    assert list(steps(approved, T0)) == [("send the transfer", T0 + timedelta(hours=24))]
    sent = row(approved_at=T0, sent_at=T0)
    assert list(steps(sent, T0)) == [("receiver decides whether to file", T0 + timedelta(days=3))]
    refused = row(approved_at=T0, sent_at=T0, decided_at=T0, decision="NOT_FILED")
    assert [s for s, _ in steps(refused, T0)] == ["request reconsideration (if contested)"]
    seized = [{"kind": "SEIZED_ITEMS_LIST"}]
    filed = row(approved_at=T0, sent_at=T0, decided_at=T0, decision="FILED", materials=seized)
    assert list(steps(filed, T0)) == [("hand over seized items", T0 + timedelta(days=3))]
    done = {**filed, "seized_items_handed_over_at": T0}
    assert list(steps(done, T0)) == []


def test_a_deadline_the_record_carries_wins() -> None:
    own = T0 + timedelta(hours=5)
    assert list(steps(row(approved_at=T0, send_due=own), T0)) == [("send the transfer", own)]
