"""The generated encoders write exactly fastavro's bytes, or leave the value to fastavro."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer
from hypothesis import given, settings

from casebus.contracts.samples import sample_lead_event, sample_penalty_event
from casebus.contracts.schemas import schema_for_topic
from casebus.events import EventType
from casebus.serde.compiled import compile_encoder
from tests.serde.strategies import penalties

pytestmark = pytest.mark.offline

PENALTY = schema_for_topic("casebus.penalty")
LEAD = schema_for_topic("casebus.lead")


def _fastavro(schema: dict[str, Any], event: Any) -> bytes | None:
    buf = io.BytesIO()
    try:
        schemaless_writer(buf, parse_schema(schema), event)
    except Exception:
        return None
    return buf.getvalue()


def _agrees(schema: dict[str, Any], event: Any) -> None:
    encode = compile_encoder(schema)
    assert encode is not None
    ours = encode(event)
    if ours is not None:  # None: fastavro writes it (or raises), as before
        assert ours == _fastavro(schema, event)


def _penalty(**changes: Any) -> dict[str, Any]:
    event = sample_penalty_event()
    event["penalty"] = {**event["penalty"], **changes}
    return event


def test_samples_encode_as_fastavro_does() -> None:
    for schema, event in ((PENALTY, sample_penalty_event()), (LEAD, sample_lead_event())):
        encode = compile_encoder(schema)
        assert encode is not None
        assert encode(event) == _fastavro(schema, event)


@pytest.mark.parametrize(
    "amount",
    [
        Decimal("0"),
        Decimal("-0"),
        Decimal("0.000001"),
        Decimal("-0.000001"),
        Decimal("12.5"),
        Decimal("-128"),
        Decimal("-0.000128"),
        Decimal("999999999999.999999"),
        Decimal("-999999999999.999999"),
        Decimal("1E+3"),
        Decimal("1.0000001"),  # more places than the scale
        Decimal("1E+30"),  # more digits than the precision
        Decimal("NaN"),
        Decimal("Infinity"),
        None,
        b"\x01\x02",
        1.5,
    ],
)
def test_decimals(amount: Any) -> None:
    _agrees(PENALTY, _penalty(fine_amount=amount))


@pytest.mark.parametrize(
    "day",
    [date(1970, 1, 1), date(1969, 12, 31), date(2024, 2, 29), date(1, 1, 1), 19000, -5, None],
)
def test_dates(day: Any) -> None:
    _agrees(PENALTY, _penalty(publicity_until=day, decision_date=day or date(2024, 1, 1)))


@pytest.mark.parametrize(
    "instant",
    [
        datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC),
        datetime(2024, 5, 1, 12, 30, 15, 999999, tzinfo=timezone(timedelta(hours=8))),
        datetime(1969, 12, 31, 23, 59, 59, 1000, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(2024, 5, 1, 12, 30),  # naive: fastavro's local-time conversion decides
        1_700_000_000_000,
        -1,
        2**63,
        True,
        "2024-05-01",
    ],
)
def test_instants(instant: Any) -> None:
    event = sample_penalty_event()
    event["occurred_at"] = instant
    _agrees(PENALTY, event)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_id", uuid.UUID("6c1c9b1e-3f0a-5d57-9a55-0c6a8f0e7b21")),
        ("event_id", "not a uuid"),
        ("event_id", 5),
        ("event_type", EventType.PENALTY_AMENDED),
        ("event_type", "NOT_A_SYMBOL"),
        ("revision", 2**63 - 1),
        ("revision", -(2**63)),
        ("revision", 2**63),
        ("revision", True),
        ("revision", 1.0),
        ("owner", "泸州" * 5000),  # a length prefix of three varint bytes
        ("owner", "\ud800"),
        ("owner", EventType.PENALTY_ISSUED),
        ("shared_with", []),
        ("shared_with", [f"5105{i:02d}" for i in range(70)]),  # a two-byte count
        ("shared_with", ("510500",)),
        ("penalty", None),
    ],
)
def test_envelope_values(field: str, value: Any) -> None:
    event = sample_penalty_event()
    event[field] = value
    _agrees(PENALTY, event)


@pytest.mark.parametrize("bits", [6, 13, 20, 27, 34, 41, 48])
def test_longs_at_the_table_bounds(bits: int) -> None:
    for revision in (2**bits - 1, 2**bits, -(2**bits), -(2**bits) - 1):
        event = sample_penalty_event()
        event["revision"] = revision
        _agrees(PENALTY, event)


def test_a_missing_field_is_left_to_fastavro() -> None:
    event = sample_penalty_event()
    del event["penalty"]["remarks"]
    encode = compile_encoder(PENALTY)
    assert encode is not None and encode(event) is None


def test_unions_of_records_are_not_compiled() -> None:
    assert compile_encoder(schema_for_topic("casebus.action")) is None


def test_recursive_and_nested_names() -> None:
    node = {
        "type": "record",
        "name": "Node",
        "namespace": "t",
        "fields": [
            {"name": "label", "type": "string"},
            {"name": "next", "type": ["null", "t.Node"]},
        ],
    }
    assert compile_encoder(node) is None  # recursion: fastavro writes it
    outer = {
        "type": "record",
        "name": "Outer",
        "namespace": "t",
        "fields": [
            {"name": "a", "type": {"type": "enum", "name": "Kind", "symbols": ["X", "Y"]}},
            {"name": "b", "type": "t.Kind"},  # inherits the namespace of Outer
        ],
    }
    encode = compile_encoder(outer)
    assert encode is not None
    assert encode({"a": "Y", "b": "X"}) == _fastavro(outer, {"a": "Y", "b": "X"})


@settings(max_examples=300, deadline=None)
@given(event=penalties())
def test_any_penalty_encodes_as_fastavro_does(event: dict[str, Any]) -> None:
    encode = compile_encoder(PENALTY)
    assert encode is not None
    ours = encode(event)
    assert ours is not None  # values of exactly the schema's types: the generated path
    assert ours == _fastavro(PENALTY, event)


def test_fallbacks_are_counted_with_the_field_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    encode = compile_encoder(PENALTY)
    assert encode is not None
    event = _penalty(fine_amount=1.5)  # a float: fastavro decides (and refuses it)
    with caplog.at_level("INFO", logger="casebus.serde.compiled"):
        assert encode(event) is None
        assert encode(event) is None
    assert encode.fallbacks == {"penalty.fine_amount: not a value this encoder writes": 2}
    # (Only this logger's: a Kafka client of an earlier test may still log in its thread.)
    assert [r.getMessage() for r in caplog.records if r.name == "casebus.serde.compiled"] == [
        "PenaltyEvent encoder: penalty.fine_amount: not a value this encoder writes; "
        "fastavro writes such values"
    ]
    missing = sample_penalty_event()
    del missing["region"]
    assert encode(missing) is None
    assert encode.fallbacks["region: missing"] == 1


def test_an_encoder_bug_is_logged_with_its_traceback_and_fastavro_still_writes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    encode = compile_encoder(PENALTY)
    assert encode is not None

    def broken(datum: Any) -> bytes:
        raise AttributeError("generated code refers to a missing name")

    encode._write = broken
    with caplog.at_level("ERROR", logger="casebus.serde.compiled"):
        assert encode(sample_penalty_event()) is None
    assert encode.fallbacks == {"encoder error AttributeError": 1}
    (record,) = caplog.records
    assert record.exc_info is not None and "AttributeError" in record.getMessage()
