"""Event validation beyond Avro: every failed rule of a record, reported together.

`validate_event` runs, in order: one pass that checks every field's Avro type, the text
policy on every string and the size limits (casebus.contracts.typecheck), then the envelope
rules, then the payload rules (casebus.contracts.rules).
It never mutates the event; `normalise_event` returns the NFC / normalised-credit-code form
producers should validate and publish.
"""

from __future__ import annotations

import contextlib
import copy
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from casebus.config import Settings
from casebus.contracts import codes, rules, text, typecheck, uscc
from casebus.contracts.checks import Checks, Violation
from casebus.contracts.schemas import schema_for_topic
from casebus.events import ACTION_TOPIC, EventType, action_branch, payload_field

__all__ = ["ValidationError", "Violation", "normalise_event", "validate_event"]

_USCC_FIELDS = frozenset({"party_uscc", "authority_uscc", "source_org_uscc", "seller_uscc"})
_EVENT_TYPES = frozenset(e.value for e in EventType)
_FAMILY = {e.value: e.family for e in EventType}
# The form stable_event_id writes; anything else is given to uuid.UUID to judge.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PAYLOAD_RULES: dict[str, Callable[[Checks, dict[str, Any], object], None]] = {
    "penalty": rules.penalty,
    "lead": rules.lead,
    "Transfer": rules.transfer,
    "EnforcementAction": rules.enforcement_action,
    "CaseLink": rules.case_link,
}
# A key only that branch of the `action` union has: tells which record the producer sent.
_BRANCH_KEYS = {"Transfer": "document_no", "EnforcementAction": "by", "CaseLink": "linked_case_ids"}


class ValidationError(Exception):
    """An event broke one or more rules; `.violations` lists all of them."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        lines = "; ".join(v.message for v in violations)
        super().__init__(f"{len(violations)} rule(s) failed: {lines}")


def validate_event(
    topic: str,
    event: dict[str, Any],
    *,
    now: datetime | None = None,
    settings: Settings,
    sealed: bool = False,
) -> list[Violation]:
    """All rule failures of `event` for `topic` (empty list: valid). `sealed`: the event as
    consumers read it, personal values sealed (casebus.personal); producers validate them in
    clear, before sealing."""
    latest = (now or datetime.now(UTC)) + timedelta(seconds=settings.validation.clock_skew_seconds)
    c = Checks(codes.known(settings), latest, sealed=sealed)
    if not isinstance(event, dict):
        c.add("(event)", "type", event, "an event must be a dict")
        return c.out
    strings: list[str] = []
    if not (_quick(topic)(event, strings) and text.all_clean(strings)):
        _checker(topic)(event, "", c.add)  # something to report: walk again, with paths
    _envelope(c, topic, event)
    field = payload_field(topic)
    payload = event.get(field)
    if isinstance(payload, dict):
        name: str | None = field
        if topic == ACTION_TOPIC:
            name = _action_branch(c, event.get("event_type"), payload)
        if name is not None:
            _PAYLOAD_RULES[name](c, payload, event.get("event_type"))
    return c.out


def check_event(
    topic: str, event: dict[str, Any], *, now: datetime | None = None, settings: Settings
) -> None:
    """Raise ValidationError listing every failure, if there is any."""
    violations = validate_event(topic, event, now=now, settings=settings)
    if violations:
        raise ValidationError(violations)


def normalise_event(event: dict[str, Any]) -> dict[str, Any]:
    """A copy with every string in NFC and credit codes normalised (full-width, spaces, case)."""
    return _normalise(copy.deepcopy(event), "")


@cache
def _checker(topic: str) -> typecheck.Checker:
    return typecheck.compile_schema(schema_for_topic(topic))


@cache
def _quick(topic: str) -> typecheck.Quick:
    return typecheck.compile_quick(schema_for_topic(topic))


def _normalise(value: Any, key: str) -> Any:
    if isinstance(value, str):
        value = text.normalise_text(value)
        return uscc.normalise(value) if key in _USCC_FIELDS else value
    if isinstance(value, dict):
        return {k: _normalise(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v, key) for v in value]
    return value


def _envelope(c: Checks, topic: str, e: dict[str, Any]) -> None:
    event_id = e.get("event_id")
    if isinstance(event_id, str) and not _CANONICAL_UUID.fullmatch(event_id):
        try:
            uuid.UUID(event_id)
        except ValueError:
            c.add("event_id", "uuid", event_id, f"{event_id!r} is not a UUID")
    event_type = e.get("event_type")
    if isinstance(event_type, str):
        _event_type(c, topic, event_type)
    occurred = c.instant(e, "occurred_at", "")
    published = c.instant(e, "published_at", "")
    if occurred is not None and published is not None and published < occurred:
        c.add("published_at", "order", e["published_at"], "is before occurred_at")
    c.owner(e, "owner", "")
    for key in ("record_id", "case_id", "producer"):
        value = e.get(key)
        if isinstance(value, str) and not value.strip():
            c.add(key, "required", value, "is blank")
    revision = e.get("revision")
    if isinstance(revision, int) and revision < 1:
        c.add("revision", "range", revision, f"{revision} is below 1")
    c.region(e.get("region"), "region")
    _sharing(c, e)


def _event_type(c: Checks, topic: str, event_type: str) -> None:
    if event_type not in _EVENT_TYPES:
        hint = ""
        with contextlib.suppress(ValueError):
            hint = f"; write the Avro symbol {EventType.from_code(event_type).value!r}"
        c.add("event_type", "code", event_type, f"{event_type!r} is not an event type{hint}")
        return
    expected = payload_field(topic)
    family = _FAMILY[event_type]
    if (topic == ACTION_TOPIC) != (family in ("transfer", "action", "case")) or (
        topic != ACTION_TOPIC and family != expected
    ):
        c.add(
            "event_type", "event_type.topic", event_type, f"{event_type} does not belong on {topic}"
        )


def _sharing(c: Checks, e: dict[str, Any]) -> None:
    handling = e.get("handling")
    c.code(e, "handling", codes.HANDLING, "", "handling code (H0-H3)")
    shared = e.get("shared_with")
    if not isinstance(shared, list):
        return
    owners = c.known.owners
    for i, target in enumerate(shared):
        if isinstance(target, str) and not (
            target in owners or (target.isdigit() and len(target) == 6)
        ):
            c.add(
                f"shared_with[{i}]",
                "code",
                target,
                f"{target!r} is neither a region code nor a configured agency",
            )
    if handling == "H2" and not any(isinstance(t, str) and t in owners for t in shared):
        c.add("shared_with", "required", shared, "H2 needs at least one named agency")


def _action_branch(c: Checks, event_type: object, payload: dict[str, Any]) -> str | None:
    if not isinstance(event_type, str) or event_type not in _EVENT_TYPES:
        return None
    expected = action_branch(event_type)
    if expected is None:
        return None
    if _BRANCH_KEYS[expected] not in payload:
        sent = next((n for n, k in _BRANCH_KEYS.items() if k in payload), "an unknown record")
        c.add("action", "action.branch", sent, f"{event_type} carries a {expected}, not {sent}")
        return None
    return expected
