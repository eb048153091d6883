"""Offline: the chain's canonical form of an instant is one text, whatever the value's form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from agencydb.chain import _instant

pytestmark = pytest.mark.offline


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2025, 3, 1, 8, 0, tzinfo=UTC),
        datetime(2025, 3, 1, 8, 0, 0, 120000, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_an_instant_has_one_canonical_text_in_every_form(moment: datetime) -> None:
    text = moment.replace(tzinfo=None).isoformat(" ", "microseconds")  # SQLite's bound text
    beijing = moment.astimezone(timezone(timedelta(hours=8))) if moment.year < 9999 else moment
    read_back = moment.replace(tzinfo=timezone(timedelta(0)))  # another UTC object
    forms = [moment, beijing, read_back, moment.replace(tzinfo=None), text]
    assert {_instant(form) for form in forms} == {text}
