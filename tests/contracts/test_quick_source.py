"""The generated quick check (typecheck.compile_quick) answers exactly as the closures it
replaced, and collects the same strings for the text policy."""

from __future__ import annotations

from typing import Any

import pytest

from casebus.contracts import typecheck
from casebus.contracts.model import resolve
from casebus.contracts.samples import sample_action_event, sample_lead_event, sample_penalty_event
from casebus.contracts.schemas import schema_for_topic
from casebus.events import ACTION_TOPIC, LEAD_TOPIC, PENALTY_TOPIC, EventType
from tests.contracts.test_quick_path import _SUBSTITUTES, _paths, _removed, _replaced

pytestmark = pytest.mark.offline


def test_generated_quick_agrees_with_the_closures() -> None:
    samples = [
        (PENALTY_TOPIC, sample_penalty_event()),
        (LEAD_TOPIC, sample_lead_event()),
        (ACTION_TOPIC, sample_action_event()),
        (ACTION_TOPIC, sample_action_event(EventType.ACTION_RECORDED)),
        (ACTION_TOPIC, sample_action_event(EventType.CASE_LINKED)),
    ]
    for topic, event in samples:
        schema = schema_for_topic(topic)
        generated = typecheck.compile_quick(schema)
        closures = typecheck._quick(resolve(schema), {}, "")
        for path in _paths(event):
            variants: list[Any] = [_replaced(event, path, new) for new in _SUBSTITUTES]
            if path:
                variants.append(_removed(event, path))
            for variant in variants:
                ours: list[str] = []
                theirs: list[str] = []
                passed = generated(variant, ours)
                assert passed == closures(variant, theirs), (topic, path)
                if passed:
                    assert ours == theirs
