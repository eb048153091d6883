"""Penalty events of any text, amount, date, instant and revision the schema allows: what the
generated encoder and decoder are held to fastavro on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from casebus.contracts.samples import sample_penalty_event

_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)  # no lone surrogates
_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))])


@st.composite
def penalties(draw: st.DrawFn) -> dict[str, Any]:
    event = sample_penalty_event()
    event["penalty"] = {
        **event["penalty"],
        "party_name": draw(_TEXT),
        "remarks": draw(st.none() | _TEXT),
        "fine_amount": draw(
            st.none() | st.decimals(min_value=-(10**11), max_value=10**11, places=6)
        ),
        "decision_date": draw(st.dates(min_value=date(1, 1, 1))),
    }
    event["occurred_at"] = draw(st.datetimes(min_value=datetime(1900, 1, 1), timezones=_ZONES))
    event["revision"] = draw(st.integers(min_value=-(2**63), max_value=2**63 - 1))
    return event
