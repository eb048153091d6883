"""The generated decoders read exactly fastavro's values, or refuse and leave the bytes to it."""

from __future__ import annotations

import io
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from hypothesis import given, settings

from casebus.contracts.samples import sample_action_event, sample_lead_event, sample_penalty_event
from casebus.contracts.schemas import schema_for_topic
from casebus.events import EventType
from casebus.serde.avro import AvroDeserializer, FixedIds, SerializationContext
from casebus.serde.errors import MalformedMessage, TrailingBytes, TruncatedMessage
from casebus.serde.framing import frame
from casebus.serde.reader import Read, Unreadable, compile_decoder, decode
from tests.serde.strategies import penalties

pytestmark = pytest.mark.offline

PENALTY = schema_for_topic("casebus.penalty")
LEAD = schema_for_topic("casebus.lead")
ACTION = schema_for_topic("casebus.action")


def _bytes(schema: Any, value: Any) -> bytes:
    buf = io.BytesIO()
    schemaless_writer(buf, parse_schema(schema), value)
    return buf.getvalue()


def _decoder(schema: Any) -> Read:
    read = compile_decoder(schema)
    assert read is not None
    return read


def _reads_as_fastavro(schema: Any, data: bytes) -> Any:
    expected = schemaless_reader(io.BytesIO(data), parse_schema(schema), None)
    value, end = decode(_decoder(schema), data, 0)
    assert end == len(data)
    assert value == expected
    assert repr(value) == repr(expected)  # the same types, tz, Decimal exponents, order
    return value


@pytest.mark.parametrize(
    ("schema", "event"),
    [
        (PENALTY, sample_penalty_event()),
        (LEAD, sample_lead_event()),
        *(
            (ACTION, sample_action_event(t))
            for t in (EventType.TRANSFER_DECIDED, EventType.ACTION_RECORDED, EventType.CASE_LINKED)
        ),
    ],
    ids=lambda x: x.get("name", "") if "fields" in x else str(x.get("event_type", "")),
)
def test_every_kind_of_event_reads_as_fastavro_reads_it(schema: Any, event: Any) -> None:
    _reads_as_fastavro(schema, _bytes(schema, event))


@settings(max_examples=300, deadline=None)
@given(event=penalties())
def test_any_penalty_reads_as_fastavro_reads_it(event: dict[str, Any]) -> None:
    _reads_as_fastavro(PENALTY, _bytes(PENALTY, event))


def test_arrays_and_maps_in_several_blocks_with_sizes() -> None:
    schema = {
        "type": "record",
        "name": "R",
        "fields": [
            {"name": "xs", "type": {"type": "array", "items": "long"}},
            {"name": "m", "type": {"type": "map", "values": ["null", "string"]}},
            {"name": "f", "type": {"type": "fixed", "name": "F", "size": 3}},
            {"name": "d", "type": "double"},
            {"name": "ok", "type": "boolean"},
        ],
    }
    # xs: a block of 2 given with its byte size (count -2), then a block of 1, then the end;
    # m: {"a": null, "b": "c"}; f: 3 bytes; d: 1.5; ok: true.
    data = (
        b"\x03\x04\x02\x04"  # count -2, size 2, then 1 and 2
        + b"\x02\x06\x00"  # count 1: 3; end
        + b"\x04\x02a\x00\x02b\x02\x02c\x00"
        + b"xyz"
        + b"\x00\x00\x00\x00\x00\x00\xf8?"
        + b"\x01"
    )
    assert _reads_as_fastavro(schema, data) == {
        "xs": [1, 2, 3],
        "m": {"a": None, "b": "c"},
        "f": b"xyz",
        "d": 1.5,
        "ok": True,
    }


@pytest.mark.parametrize(
    ("why", "data"),
    [
        ("truncated", None),
        ("a union branch the schema does not have", b"\x06"),
        ("a boolean byte other than 0 or 1", b"\x02\x02"),
        ("bad UTF-8", b"\x04\x04\xff\xfe"),
        ("a negative length", b"\x04\x01"),
    ],
)
def test_bytes_it_cannot_read_are_refused_not_guessed(why: str, data: bytes | None) -> None:
    schema = {
        "type": "record",
        "name": "R",
        "fields": [{"name": "v", "type": ["null", "boolean", "string"]}],
    }
    read = _decoder(schema)
    if data is None:
        data = _bytes(PENALTY, sample_penalty_event())[:-3]
        read = _decoder(PENALTY)
    with pytest.raises(Unreadable):
        decode(read, data, 0)


def test_schemas_it_does_not_compile_are_left_to_fastavro() -> None:
    node = {
        "type": "record",
        "name": "Node",
        "fields": [{"name": "next", "type": ["null", "Node"]}],
    }
    micros = {
        "type": "record",
        "name": "T",
        "fields": [{"name": "t", "type": {"type": "long", "logicalType": "timestamp-micros"}}],
    }
    assert compile_decoder(node) is None
    assert compile_decoder(micros) is None


@pytest.mark.parametrize(
    ("damage", "error"),
    [
        (lambda b: b[:-2], TruncatedMessage),
        (lambda b: b + b"\x00", TrailingBytes),
        (lambda b: b[:5] + b"\xff" * 60, MalformedMessage | TruncatedMessage),
    ],
)
def test_the_deserializer_still_refuses_bad_bytes_with_fastavros_error(
    damage: Any, error: type[Exception]
) -> None:
    registry = _OneSchema(PENALTY)
    decoder = AvroDeserializer(registry, max_message_bytes=1 << 20, reader_schema=PENALTY)
    data = frame(7, _bytes(PENALTY, sample_penalty_event()))
    ctx = SerializationContext("casebus.penalty")
    assert decoder.decode(data, ctx).value == schemaless_reader(
        io.BytesIO(data[5:]), parse_schema(PENALTY), None
    )
    with pytest.raises(Exception) as caught:
        decoder.decode(damage(data), ctx)
    assert isinstance(getattr(caught.value, "inner", caught.value), error)


class _OneSchema(FixedIds):
    def __init__(self, schema: Any) -> None:
        super().__init__({})
        self._schema = schema

    def get_schema(self, schema_id: int) -> str:
        import json

        return json.dumps(self._schema)
