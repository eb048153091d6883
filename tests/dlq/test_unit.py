"""Offline: the pure parts of `casebus dlq`: --since, the filter, the rate, the text and JSON
of `dlq show`, the consumer names, and the chain hash of a row with a DLQ position."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from agencydb.chain import CHAINED, GENESIS, link
from casebus.config import load_settings
from casebus.dlq import ERROR_HEADER_PREFIX, dlq_headers, original_headers
from pipeline.deadletters import DlqEntry
from pipeline.items import RawRecord, Redriven
from services.dlq.filters import BEIJING, Filter, Pace, parse_since
from services.dlq.show import DlqView, lines, to_dict
from services.dlq.target import UnknownConsumer, resolve

pytestmark = pytest.mark.offline

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", NOW - timedelta(hours=2)),
        ("30m", NOW - timedelta(minutes=30)),
        ("1d", NOW - timedelta(days=1)),
        ("90s", NOW - timedelta(seconds=90)),
        ("1w", NOW - timedelta(weeks=1)),
        ("1.5h", NOW - timedelta(minutes=90)),
        ("2026-12-04T10:00:00+00:00", datetime(2026, 12, 4, 10, tzinfo=UTC)),
        ("2026-12-04T18:00", datetime(2026, 12, 4, 18, tzinfo=BEIJING)),  # Beijing: 10:00 UTC
    ],
)
def test_since_is_a_duration_or_an_iso_time(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "2x", "-1h", ""])
def test_since_refuses_anything_else_naming_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match="neither a duration"):
        parse_since(text, NOW)


def entry(offset: int, reason: str = "UnknownKey", at: datetime = NOW, **kw: object) -> DlqEntry:
    fields: dict[str, object] = {
        "dlq_topic": "casebus.dlq.sync.500110-SAMR",
        "dlq_partition": 0,
        "dlq_offset": offset,
        "timestamp": at,
        "error_class": reason,
        "message": f"detail {offset}",
        "consumer": "casebus.sync.500110-SAMR",
        "topic": "casebus.penalty",
        "partition": 1,
        "offset": 40 + offset,
        "key": b"CASE-510500-2025-0017",
        "value": bytes(range(40)),
        "headers": (("casebus.key-id", b"k"),),
    }
    fields.update(kw)
    return DlqEntry(**fields)  # type: ignore[arg-type]


def test_the_filter_takes_a_reason_exactly_and_a_time_from_on() -> None:
    old, new = entry(0, at=NOW - timedelta(hours=3)), entry(1, "BadSignature", at=NOW)
    assert [Filter()(e) for e in (old, new)] == [True, True]
    assert [Filter(reason="UnknownKey")(e) for e in (old, new)] == [True, False]
    assert [Filter(reason="unknownkey")(e) for e in (old, new)] == [False, False]
    assert [Filter(since=NOW - timedelta(hours=1))(e) for e in (old, new)] == [False, True]
    assert (
        Filter("UnknownKey", NOW).describe() == "reason UnknownKey, since 2026-12-04T12:00:00+00:00"
    )
    assert Filter().describe() == "all"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_pace_lets_the_first_batch_go_and_holds_the_rest_to_the_rate() -> None:
    clock = FakeClock()
    pace = Pace(10, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        pace.take(5)  # 20 events at 10/s: 0, 0.5, 1.0, 1.5 s
    assert clock.slept == [0.5, 0.5, 0.5]
    assert pace.waited == pytest.approx(1.5)
    clock.now += 10  # idle a while: no burst is saved up beyond the next batch
    pace.take(5)
    pace.take(5)
    assert clock.slept[-1] == 0.5 and len(clock.slept) == 4


def test_a_pace_needs_a_positive_rate() -> None:
    with pytest.raises(ValueError, match="more than 0"):
        Pace(0)


def test_show_prints_each_record_and_the_counts_by_reason() -> None:
    settings = load_settings()
    target = resolve(settings, "500110-SAMR")
    view = DlqView(
        target,
        Filter(),
        total=3,
        entries=[
            entry(0),
            entry(1, "BadSignature", value=b"\x00\x01"),
            entry(2, redrive_of="casebus.dlq.sync.500110-SAMR:0:0"),
        ],
        redriven={(0, 0)},
    )
    assert lines(view) == [
        "casebus.dlq.sync.500110-SAMR (500110-SAMR's sync): 3 of 3 records",
        "2026-12-04 20:00:00+08:00  dlq 0@0  casebus.penalty[1]@40  "
        "key CASE-510500-2025-0017  redriven",
        "    UnknownKey: detail 0",
        f"    value {bytes(range(32)).hex()} (32 of 40 bytes)",
        "2026-12-04 20:00:00+08:00  dlq 0@1  casebus.penalty[1]@41  "
        "key CASE-510500-2025-0017  not redriven",
        "    BadSignature: detail 1",
        "    value 0001 (2 of 2 bytes)",
        "2026-12-04 20:00:00+08:00  dlq 0@2  casebus.penalty[1]@42  "
        "key CASE-510500-2025-0017  not redriven, failed again after redrive of "
        "casebus.dlq.sync.500110-SAMR:0:0",
        "    UnknownKey: detail 2",
        f"    value {bytes(range(32)).hex()} (32 of 40 bytes)",
        "by reason: BadSignature 1, UnknownKey 2",
    ]
    body = json.loads(json.dumps(to_dict(view)))
    assert body["reasons"] == {"BadSignature": 1, "UnknownKey": 2}
    assert body["records"][0] == {
        "dlq_partition": 0,
        "dlq_offset": 0,
        "time": "2026-12-04T12:00:00+00:00",
        "topic": "casebus.penalty",
        "partition": 1,
        "offset": 40,
        "key": "CASE-510500-2025-0017",
        "reason": "UnknownKey",
        "detail": "detail 0",
        "consumer": "casebus.sync.500110-SAMR",
        "value_bytes": 40,
        "value_head": bytes(range(32)).hex(),
        "redriven": True,
        "redrive_of": None,
    }
    assert [r["redriven"] for r in body["records"]] == [True, False, False]


def test_a_consumer_is_named_by_agency_group_principal_or_topic_and_unknown_ones_are_listed() -> (
    None
):
    settings = load_settings()
    for name in (
        "510500-SAMR",
        "casebus.sync.510500-SAMR",
        "sync.510500-SAMR",
        "casebus.dlq.sync.510500-SAMR",
    ):
        found = resolve(settings, name)
        assert (found.kind, found.agency, found.topic) == (
            "sync",
            "510500-SAMR",
            "casebus.dlq.sync.510500-SAMR",
        )
    feeds = resolve(settings, "feeds")
    assert (feeds.kind, feeds.agency, feeds.topic) == ("feeds", None, "casebus.dlq.feeds")
    with pytest.raises(UnknownConsumer) as caught:
        resolve(settings, "510500-SAMX")
    assert "510500-SAMR" in str(caught.value) and "feeds" in str(caught.value)


def test_a_dlq_record_gives_back_the_original_and_a_failure_again_names_it() -> None:
    original = RawRecord("casebus.penalty", 1, 40, b"v", b"k", (("casebus.key-id", b"x"),))
    headers = dlq_headers(original, "UnknownKey", "no such key", "casebus.sync.A")
    assert original_headers(headers) == (("casebus.key-id", b"x"),)
    back = Redriven("casebus.penalty", 1, 40, b"v", b"k", original_headers(headers), "dlq", 0, 7)
    again = dict(dlq_headers(back, "ValidationError", "bad", "redrive.A", "dlq:0:7"))
    assert again[ERROR_HEADER_PREFIX + "redrive-of"] == b"dlq:0:7"
    assert again[ERROR_HEADER_PREFIX + "offset"] == b"40"  # still the original's position


def test_the_chain_hashes_a_row_without_a_dlq_position_as_before_it_existed() -> None:
    row = [f"v{i}" for i in range(len(CHAINED))]
    row[-3:] = [None, None, None]
    # As a database from before migration 0004 hashed it: the columns it had, no more.
    before = hashlib.sha256(GENESIS.encode() + orjson.dumps(row[:-3])).hexdigest()
    assert link(GENESIS, row) == before
    redriven_row = [*row[:-3], "casebus.dlq.sync.A", 0, 7]
    moved = [*row[:-3], "casebus.dlq.sync.A", 0, 8]
    assert len({before, link(GENESIS, redriven_row), link(GENESIS, moved)}) == 3
