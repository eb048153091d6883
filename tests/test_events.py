"""Event ids: the hand-rolled uuid5 gives exactly uuid.uuid5's text."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casebus.events import _EVENT_ID_NAMESPACE, EventType, stable_event_id

pytestmark = pytest.mark.offline

_TYPES = st.sampled_from([*EventType, *(e.value for e in EventType), "penalty.issued"])


@given(st.text(), st.text(), st.integers(min_value=1, max_value=2**40), _TYPES)
def test_stable_event_id_is_uuid5(owner: str, record_id: str, revision: int, kind: str) -> None:
    try:
        name = "\x1f".join((owner, record_id, str(revision), EventType.from_code(kind).value))
    except ValueError:
        name = "\x1f".join((owner, record_id, str(revision), EventType(kind).value))
    try:
        expected = str(uuid.uuid5(_EVENT_ID_NAMESPACE, name))
    except UnicodeEncodeError:
        return  # a lone surrogate: neither can hash it
    assert stable_event_id(owner, record_id, revision, kind) == expected
