"""validate_event's fast path (typecheck.compile_quick + text.all_clean) may only skip the
reporting walk when that walk would report nothing."""

from __future__ import annotations

import copy
import unicodedata
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casebus.contracts import text, typecheck
from casebus.contracts.samples import (
    sample_action_event,
    sample_lead_event,
    sample_penalty_event,
)
from casebus.contracts.schemas import schema_for_topic
from casebus.events import ACTION_TOPIC, LEAD_TOPIC, PENALTY_TOPIC, EventType

pytestmark = pytest.mark.offline

# Starters, combining marks, Hangul jamo (compose across characters), singletons,
# characters NFC rewrites, and characters the policy rejects.
_ALPHABET = "aé\u0065\u0301\u0327\u0328\u1100\u1161\u11a8\uac00\u212b\u2126\u0344ｱ\n\t\u200b\x07"


@given(st.lists(st.text(alphabet=_ALPHABET, max_size=6), max_size=5))
def test_joined_check_agrees_with_each_string(values: list[str]) -> None:
    assert text.all_clean(values) == all(text.is_clean(v) for v in values)


def test_joined_text_is_nfc_only_when_every_part_is() -> None:
    parts = ["e", "\u0301", "\u1100", "\u1161", "A", "\u030a", "가", "\u11a8"]
    for a in parts:
        for b in parts:
            joined = unicodedata.is_normalized("NFC", f"{a}\n{b}")
            each = unicodedata.is_normalized("NFC", a) and unicodedata.is_normalized("NFC", b)
            assert joined == each, (a, b)


_SUBSTITUTES: list[Any] = [
    None,
    0,
    2**40,
    1.5,
    True,
    "",
    "x" * 21_000,
    "a\u200bb",
    "e\u0301",
    [],
    {},
]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, (*path, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _paths(inner, (*path, i))


def _replaced(event: dict[str, Any], path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copied = copy.deepcopy(event)
    target: Any = copied
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return copied


def _removed(event: dict[str, Any], path: tuple[Any, ...]) -> Any:
    copied = copy.deepcopy(event)
    target: Any = copied
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return copied


def test_quick_path_passes_only_what_the_reporting_walk_passes() -> None:
    samples = [
        (PENALTY_TOPIC, sample_penalty_event()),
        (LEAD_TOPIC, sample_lead_event()),
        (ACTION_TOPIC, sample_action_event()),
        (ACTION_TOPIC, sample_action_event(EventType.ACTION_RECORDED)),
        (ACTION_TOPIC, sample_action_event(EventType.CASE_LINKED)),
    ]
    tried = 0
    for topic, event in samples:
        schema = schema_for_topic(topic)
        quick, report = typecheck.compile_quick(schema), typecheck.compile_schema(schema)
        for path in _paths(event):
            variants = [_replaced(event, path, new) for new in _SUBSTITUTES]
            if path:
                variants.append(_removed(event, path))
            for variant in variants:
                found: list[tuple[Any, ...]] = []
                report(variant, "", lambda *args, sink=found: sink.append(args))
                strings: list[str] = []
                skipped = quick(variant, strings) and text.all_clean(strings)
                assert not (skipped and found), (topic, path, found)
                tried += 1
        assert _clean_sample_passes(quick, event)
    assert tried > 1000


def _clean_sample_passes(quick: typecheck.Quick, event: dict[str, Any]) -> bool:
    strings: list[str] = []
    return quick(event, strings) and text.all_clean(strings)
