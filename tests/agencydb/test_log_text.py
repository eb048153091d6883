"""An event-log row made in two parts (agencydb/chain.py `LogText`: the decode worker makes
its head and identity, the writer adds the tail) hashes and writes exactly as the whole row
does: the same chain hash as `link`, the same COPY text as psycopg's formatter of the row."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from agencydb.chain import GENESIS, link, link_after, log_text
from agencydb.copytext import lines_for
from agencydb.rows import EVENT_LOG, LOG_COLUMNS, NO_DLQ_POSITION, NO_IDENTITY, RowBuilder
from agencydb.writes import plan
from casebus.contracts.samples import sample_penalty_event
from pipeline.items import Provenance

pytestmark = pytest.mark.offline

DIALECT = make_url("postgresql+psycopg://").get_dialect()()
ROWS = RowBuilder(DIALECT)
WHOLE = lines_for(plan(EVENT_LOG, DIALECT, LOG_COLUMNS).copy_types)
NOW = datetime(2026, 12, 6, 1, 2, 3, 456789, tzinfo=UTC)
AWKWARD = "制表\t换行\n回车\r反斜杠\\N 与 \\. 结束"
PROV = Provenance("casebus.penalty", 2, 41, 7)


def _fronts() -> list[tuple[Any, Any]]:
    event = sample_penalty_event()
    head = ROWS.log_head(PROV, event)
    return [
        (head, ROWS.log_identity(event, "penalty", "ab" * 32)),  # a record's event
        (head, NO_IDENTITY),  # filtered
        (ROWS.log_head(PROV, None), NO_IDENTITY),  # refused undecoded
        (ROWS.log_head(PROV, {**event, "producer": AWKWARD}), ROWS.log_identity(event)),
    ]


def _tails() -> list[tuple[Any, ...]]:
    stamp = ROWS.stamp("event_log", "logged_at", NOW)
    return [
        ("applied", None, stamp, "sync", "cd" * 32, *NO_DLQ_POSITION),
        ("rejected", AWKWARD, stamp, "replay", None, *NO_DLQ_POSITION),
        ("applied", None, stamp, "redrive", "cd" * 32, "casebus.dlq.sync.x", 0, 17),
    ]


def _agree(head: Any, identity: Any, tail: tuple[Any, ...], previous: str) -> None:
    front = log_text(ROWS, head, identity)
    whole = head + identity + tail
    chain = link(previous, whole)
    assert link_after(previous, front, tail) == chain
    assert front[0] + ROWS.log_tail_line((*tail, chain)) == WHOLE((*whole, chain))


def test_every_kind_of_row_agrees() -> None:
    previous = GENESIS
    for head, identity in _fronts():
        for tail in _tails():
            _agree(head, identity, tail, previous)
            previous = link(previous, head + identity + tail)


@given(
    producer=st.text(max_size=40),
    detail=st.none() | st.text(max_size=40),
    revision=st.integers(min_value=1, max_value=2**31 - 1),
    offset=st.integers(min_value=0, max_value=2**62),
)
def test_any_text_agrees(producer: str, detail: str | None, revision: int, offset: int) -> None:
    event = {
        **sample_penalty_event(),
        "producer": producer.replace("\x00", ""),
        "revision": revision,
    }
    head = ROWS.log_head(PROV._replace(offset=offset), event)
    identity = ROWS.log_identity(event, "penalty", "ef" * 32)
    tail = (
        "applied",
        detail and detail.replace("\x00", ""),
        _tails()[0][2],
        "sync",
        None,
        *NO_DLQ_POSITION,
    )
    _agree(head, identity, tail, GENESIS)
