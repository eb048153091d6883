"""The feed rules as pure functions: who sees a lead, what an event changes, the state."""

from __future__ import annotations

import pytest

from casebus.config import load_settings
from casebus.revisions import Outcome
from services.feeds.route import route
from services.feeds.state import FeedState, Seen
from services.feeds.visibility import audience
from tests.feeds.helpers import agency_lead

pytestmark = pytest.mark.offline
PLATFORMS = load_settings().platforms
JD, DOUYIN = "PLATFORM-JD", "PLATFORM-DOUYIN"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, {JD}),  # on JD and shared with it
        ({"shared_with": ("510500",)}, set()),  # on JD, not shared: default deny
        ({"handling": "H0", "shared_with": ("510500",)}, {JD}),  # public
        ({"handling": "H3"}, set()),  # police only, whatever else it says
        ({"status": "REVOKED"}, set()),
        ({"platform": None}, set()),  # not on any platform's domains
        ({"handling": "H0", "shared_with": (), "platform": DOUYIN}, {DOUYIN}),
        ({"shared_with": ("510500", DOUYIN)}, set()),  # shared with Douyin, about JD
    ],
)
def test_audience(options: dict[str, object], expected: set[str]) -> None:
    assert audience(agency_lead("X", **options), PLATFORMS) == expected  # type: ignore[arg-type]


def test_a_listing_url_on_a_platform_domain_concerns_it() -> None:
    event = agency_lead("U", platform=None, handling="H0", shared_with=())
    event["lead"]["items"][0]["listing_url"] = "https://detail.tmall.com/item.htm?id=1"
    assert audience(event, PLATFORMS) == {"PLATFORM-ALIBABA"}


def test_a_platform_sees_its_own_report() -> None:
    event = agency_lead("O", shared_with=())
    event["owner"] = JD
    assert audience(event, PLATFORMS) == {JD}


def test_route() -> None:
    new = route(None, 1, "d1", frozenset({JD}))
    assert new.result.outcome is Outcome.APPLIED and new.publish == {JD} and not new.retract
    assert new.seen == Seen(1, "d1", frozenset({JD})) and not new.unseen
    held = Seen(2, "d2", frozenset({JD}))
    assert route(held, 1, "d1", frozenset({JD})).result.outcome is Outcome.STALE
    assert route(held, 2, "d2", frozenset({JD})).result.outcome is Outcome.DUPLICATE
    conflict = route(held, 2, "other", frozenset({JD}))
    assert conflict.result.outcome is Outcome.CONFLICT and conflict.seen is None
    assert not conflict.publish and not conflict.retract
    moved = route(held, 3, "d3", frozenset({DOUYIN}))
    assert moved.publish == {DOUYIN} and moved.retract == {JD}
    hidden = route(None, 1, "d1", frozenset())
    assert hidden.unseen and hidden.seen == Seen(1, "d1", frozenset())


def test_state_commits_and_aborts_and_restores() -> None:
    state = FeedState()
    state.put("a", Seen(1, "x", frozenset({JD})))
    state.abort()
    assert state.get("a") is None
    state.put("a", Seen(2, "y", frozenset({JD})))
    state.commit()
    assert state.get("a") == Seen(2, "y", frozenset({JD}))
    log = [(b"a", Seen(1, "x", frozenset()).to_bytes()), (b"b", b'{"r":1,"d":"z","p":[]}')]
    log += [(b"a", Seen(3, "w", frozenset({JD})).to_bytes()), (b"b", None)]
    restored = FeedState.restore(log)
    assert restored.get("a") == Seen(3, "w", frozenset({JD})) and restored.get("b") is None
