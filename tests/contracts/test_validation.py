"""Every bad input has a test that checks its field and rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from casebus.config import Settings
from casebus.contracts.samples import sample_action_event, sample_lead_event, sample_penalty_event
from casebus.contracts.validation import (
    ValidationError,
    Violation,
    check_event,
    normalise_event,
    validate_event,
)
from casebus.events import EventType

pytestmark = pytest.mark.offline

NOW = datetime(2025, 3, 20, tzinfo=UTC)
P, L, A = "casebus.penalty", "casebus.lead", "casebus.action"


def violations(topic: str, event: dict[str, Any], settings: Settings) -> set[tuple[str, str]]:
    return {(v.field, v.rule) for v in validate_event(topic, event, now=NOW, settings=settings)}


@pytest.mark.parametrize(
    "event",
    [
        sample_penalty_event(),
        sample_lead_event(),
        sample_action_event(EventType.TRANSFER_REQUESTED),
        sample_action_event(EventType.ACTION_RECORDED),
        sample_action_event(EventType.CASE_LINKED),
    ],
    ids=["penalty", "lead", "transfer", "action", "link"],
)
def test_samples_are_valid(event: dict[str, Any], default_settings: Settings) -> None:
    topic = {"penalty": P, "lead": L}.get(
        next(k for k in ("penalty", "lead", "action") if k in event), A
    )
    assert validate_event(topic, event, now=NOW, settings=default_settings) == []


def penalty(**changes: Any) -> dict[str, Any]:
    event = sample_penalty_event()
    event["penalty"].update(changes)
    return event


CASES: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "check digit",
        penalty(party_uscc="91310110666007217K"),
        "penalty.party_uscc",
        "uscc.check_digit",
    ),
    (
        "look-alike",
        penalty(party_uscc="9131011066600721АT"),
        "penalty.party_uscc",
        "uscc.lookalike",
    ),
    (
        "not normalised",
        penalty(party_uscc="9131 0110666007217t"),
        "penalty.party_uscc",
        "uscc.not_normalised",
    ),
    (
        "placeholder needs reg_no",
        penalty(party_uscc="00000000000000000X"),
        "penalty.reg_no",
        "required",
    ),
    (
        "authority placeholder",
        penalty(authority_uscc="00000000000000000X"),
        "penalty.authority_uscc",
        "uscc.placeholder",
    ),
    ("org needs uscc", penalty(party_uscc=None), "penalty.party_uscc", "required"),
    ("org needs legal rep", penalty(legal_rep_name=None), "penalty.legal_rep_name", "required"),
    (
        "person needs id type",
        penalty(party_category="NATURAL_PERSON"),
        "penalty.person_id_type",
        "required",
    ),
    (
        "person needs id no",
        penalty(party_category="NATURAL_PERSON"),
        "penalty.person_id_no",
        "required",
    ),
    ("party category code", penalty(party_category="COMPANY"), "penalty.party_category", "code"),
    ("fine with 02", penalty(fine_amount=None), "penalty.fine_amount", "required"),
    (
        "negative amount",
        penalty(fine_amount=Decimal("-1")),
        "penalty.fine_amount",
        "decimal.negative",
    ),
    (
        "seven decimals",
        penalty(confiscated_amount=Decimal("0.1234567")),
        "penalty.confiscated_amount",
        "decimal.scale",
    ),
    ("too large", penalty(fine_amount=Decimal("1e13")), "penalty.fine_amount", "decimal.precision"),
    ("float amount", penalty(fine_amount=1.5), "penalty.fine_amount", "type"),
    (
        "category code",
        penalty(penalty_categories=["02", "15"]),
        "penalty.penalty_categories[1]",
        "code",
    ),
    ("no category", penalty(penalty_categories=[]), "penalty.penalty_categories", "required"),
    (
        "duplicate category",
        penalty(penalty_categories=["02", "02"]),
        "penalty.penalty_categories",
        "duplicate",
    ),
    ("future decision", penalty(decision_date=date(2025, 4, 1)), "penalty.decision_date", "future"),
    (
        "until before decision",
        penalty(effective_until=date(2024, 1, 1)),
        "penalty.effective_until",
        "order",
    ),
    ("blank required", penalty(violation_facts="   "), "penalty.violation_facts", "required"),
    ("NUL", penalty(remarks="a\x00b"), "penalty.remarks", "text.control"),
    ("C0 control", penalty(remarks="a\x1bb"), "penalty.remarks", "text.control"),
    ("zero width", penalty(party_name="某某\u200b公司"), "penalty.party_name", "text.invisible"),
    ("bidi override", penalty(party_name="某某\u202e公司"), "penalty.party_name", "text.invisible"),
    (
        "lone surrogate",
        penalty(party_name="某某\ud800公司"),
        "penalty.party_name",
        "text.surrogate",
    ),
    ("not NFC", penalty(party_name="Cafe\u0301"), "penalty.party_name", "text.nfc"),
    ("too long", penalty(party_name="某" * 501), "penalty.party_name", "size.length"),
    ("wrong type", penalty(decision_no=17), "penalty.decision_no", "type"),
    (
        "missing field",
        {k: v for k, v in sample_penalty_event().items() if k != "producer"},
        "producer",
        "required",
    ),
]


@pytest.mark.parametrize(("name", "event", "field", "rule"), CASES, ids=[c[0] for c in CASES])
def test_penalty_rule(
    name: str, event: dict[str, Any], field: str, rule: str, default_settings: Settings
) -> None:
    assert (field, rule) in violations(P, event, default_settings)


def test_check_digit_message(default_settings: Settings) -> None:
    found = validate_event(
        P, penalty(party_uscc="91310110666007217K"), now=NOW, settings=default_settings
    )
    assert [v.message for v in found] == [
        "penalty.party_uscc: check digit is 'K', expected 'T'"
        " (early pilot-region codes fail this check: quarantine, do not publish)"
    ]


def test_revocation_needs_a_reason(default_settings: Settings) -> None:
    event = penalty()
    event["event_type"] = EventType.PENALTY_REVOKED
    assert ("penalty.revoke_reason", "required") in violations(P, event, default_settings)
    event["penalty"]["revoke_reason"] = "复议撤销"
    assert violations(P, event, default_settings) == set()


def envelope(**changes: Any) -> dict[str, Any]:
    event = sample_penalty_event()
    event.update(changes)
    return event


ENVELOPE_CASES = [
    ("dotted event type", envelope(event_type="penalty.issued"), "event_type", "code"),
    ("wrong topic", envelope(event_type="LEAD_REPORTED"), "event_type", "event_type.topic"),
    ("bad uuid", envelope(event_id="not-a-uuid"), "event_id", "uuid"),
    ("future occurred", envelope(occurred_at=NOW + timedelta(hours=1)), "occurred_at", "future"),
    ("naive datetime", envelope(occurred_at=datetime(2025, 3, 1)), "occurred_at", "timezone"),
    (
        "published before occurred",
        envelope(published_at=datetime(2025, 1, 1, tzinfo=UTC)),
        "published_at",
        "order",
    ),
    ("unknown owner", envelope(owner="999999-SAMR"), "owner", "code"),
    ("revision 0", envelope(revision=0), "revision", "range"),
    ("region", envelope(region="5105"), "region", "region"),
    ("handling", envelope(handling="H9"), "handling", "code"),
    ("shared_with", envelope(shared_with=["nowhere"]), "shared_with[0]", "code"),
    (
        "H2 needs an agency",
        envelope(handling="H2", shared_with=["500110"]),
        "shared_with",
        "required",
    ),
    ("blank case", envelope(case_id=" "), "case_id", "required"),
    ("too many shared", envelope(shared_with=["500110"] * 101), "shared_with", "size.items"),
]


@pytest.mark.parametrize(
    ("name", "event", "field", "rule"), ENVELOPE_CASES, ids=[c[0] for c in ENVELOPE_CASES]
)
def test_envelope_rule(
    name: str, event: dict[str, Any], field: str, rule: str, default_settings: Settings
) -> None:
    assert (field, rule) in violations(P, event, default_settings)


def test_clock_skew_is_allowed(default_settings: Settings) -> None:
    skew = default_settings.validation.clock_skew_seconds
    assert (
        violations(
            P,
            envelope(
                occurred_at=NOW + timedelta(seconds=skew - 1),
                published_at=NOW + timedelta(seconds=skew - 1),
            ),
            default_settings,
        )
        == set()
    )


def lead(**changes: Any) -> dict[str, Any]:
    event = sample_lead_event()
    event["lead"].update(changes)
    return event


def item(url: str = "https://item.jd.com/1.html", title: str = "商品") -> dict[str, Any]:
    return {"listing_url": url, "listing_id": None, "title": title}


LEAD_CASES = [
    ("source", lead(source="RUMOUR"), "lead.source", "code"),
    ("platform required", lead(platform=None), "lead.platform", "required"),
    ("platform unknown", lead(platform="PLATFORM-NOPE"), "lead.platform", "code"),
    ("status", lead(status="DONE"), "lead.status", "code"),
    ("infringement", lead(infringement_type="OTHER"), "lead.infringement_type", "code"),
    ("platform action", lead(platform_actions=["BAN"]), "lead.platform_actions[0]", "code"),
    (
        "listing url",
        lead(items=[item(), item(), item(), item("ftp://x")]),
        "lead.items[3].listing_url",
        "url",
    ),
    (
        "item url type",
        lead(items=[item(), {"listing_url": 5, "title": "x"}]),
        "lead.items[1].listing_url",
        "type",
    ),
    ("too many items", lead(items=[item()] * 501), "lead.items", "size.items"),
    ("no items", lead(items=[]), "lead.items", "required"),
    (
        "evidence hash",
        lead(evidence=[{"uri": "u", "sha256": "XYZ", "captured_at": NOW}]),
        "lead.evidence[0].sha256",
        "sha256",
    ),
    ("no evidence", lead(evidence=[]), "lead.evidence", "required"),
    ("jurisdiction", lead(jurisdiction_owner="nobody"), "lead.jurisdiction_owner", "code"),
    ("target region", lead(target_regions=["51"]), "lead.target_regions[0]", "region"),
    ("seller uscc", lead(seller_uscc="91310110666007217K"), "lead.seller_uscc", "uscc.check_digit"),
]


@pytest.mark.parametrize(
    ("name", "event", "field", "rule"), LEAD_CASES, ids=[c[0] for c in LEAD_CASES]
)
def test_lead_rule(
    name: str, event: dict[str, Any], field: str, rule: str, default_settings: Settings
) -> None:
    assert (field, rule) in violations(L, event, default_settings)


def action(event_type: EventType, **changes: Any) -> dict[str, Any]:
    event = sample_action_event(event_type)
    event["action"].update(changes)
    return event


T, R, K = EventType.TRANSFER_REQUESTED, EventType.ACTION_RECORDED, EventType.CASE_LINKED
ACTION_CASES = [
    ("transfer kind", action(T, kind="X"), "action.kind", "code"),
    ("transfer to", action(T, to_owner="nobody"), "action.to_owner", "code"),
    (
        "material kind",
        action(T, materials=[{"kind": "X", "title": "t", "uri": None, "sha256": None}]),
        "action.materials[0].kind",
        "code",
    ),
    ("not filed reason", action(T, decision="NOT_FILED"), "action.decision_reason", "required"),
    ("sent in future", action(T, sent_at=NOW + timedelta(days=1)), "action.sent_at", "future"),
    ("action kind", action(R, kind="FINE"), "action.kind", "code"),
    ("action by", action(R, by="nobody"), "action.by", "code"),
    ("link reason", action(K, reason=""), "action.reason", "required"),
]


@pytest.mark.parametrize(
    ("name", "event", "field", "rule"), ACTION_CASES, ids=[c[0] for c in ACTION_CASES]
)
def test_action_rule(
    name: str, event: dict[str, Any], field: str, rule: str, default_settings: Settings
) -> None:
    assert (field, rule) in violations(A, event, default_settings)


def test_due_times_may_lie_ahead(default_settings: Settings) -> None:
    event = action(T, decide_due=NOW + timedelta(days=3))
    assert violations(A, event, default_settings) == set()


def test_transfer_decided_needs_decision(default_settings: Settings) -> None:
    event = sample_action_event(EventType.TRANSFER_DECIDED)
    assert {("action.decision", "required"), ("action.decided_at", "required")} <= violations(
        A, event, default_settings
    )


def test_event_type_selects_the_action_branch(default_settings: Settings) -> None:
    event = sample_action_event(EventType.CASE_LINKED)
    event["event_type"] = EventType.TRANSFER_REQUESTED
    assert ("action", "action.branch") in violations(A, event, default_settings)


def test_all_failures_are_reported_together(default_settings: Settings) -> None:
    event = penalty(party_uscc="91310110666007217K", fine_amount=None, remarks="\x00")
    event["revision"] = 0
    found = violations(P, event, default_settings)
    assert {
        ("penalty.party_uscc", "uscc.check_digit"),
        ("penalty.fine_amount", "required"),
        ("penalty.remarks", "text.control"),
        ("revision", "range"),
    } <= found


def test_validation_error_carries_every_violation(default_settings: Settings) -> None:
    with pytest.raises(ValidationError) as caught:
        check_event(
            P,
            penalty(party_uscc="91310110666007217K", remarks="\x00"),
            now=NOW,
            settings=default_settings,
        )
    assert len(caught.value.violations) == 2
    assert all(isinstance(v, Violation) for v in caught.value.violations)


def test_normalise_event_fixes_what_it_may(default_settings: Settings) -> None:
    event = penalty(party_uscc=" ９１310110666007217t", party_name="Cafe\u0301")
    fixed = normalise_event(event)
    assert fixed["penalty"]["party_uscc"] == "91310110666007217T"
    assert validate_event(P, fixed, now=NOW, settings=default_settings) == []
    assert event["penalty"]["party_name"] == "Cafe\u0301"  # the input is not mutated


def test_validation_is_fast(default_settings: Settings) -> None:
    import timeit

    event = sample_penalty_event()
    runs = 2000
    seconds = timeit.timeit(
        lambda: validate_event(P, event, now=NOW, settings=default_settings), number=runs
    )
    assert seconds / runs < 200e-6  # target is < 50 µs; generous here for slow CI machines
