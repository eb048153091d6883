"""Serde against the real registry: round trips and every framing/decoding failure."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from casebus.contracts.samples import sample_action_event, sample_lead_event, sample_penalty_event
from casebus.events import EventType
from casebus.registry import RegistryClient
from casebus.serde import (
    AvroDeserializer,
    AvroSerializer,
    BadMagicByte,
    KeySerializationError,
    MalformedMessage,
    OversizedMessage,
    SchemaMismatch,
    SchemaRegistryUnavailable,
    SerializationContext,
    TrailingBytes,
    TruncatedMessage,
    UnknownSchemaId,
    ValueSerializationError,
    frame,
)
from tests.fixtures.kafka import free_port
from tests.fixtures.registry import admin_auth, admin_registry

MAX = 1_048_576


def fresh_topic() -> str:
    return f"serde-test-{uuid.uuid4().hex[:8]}"


def as_read(event: dict[str, Any]) -> dict[str, Any]:
    """What fastavro gives back: event_id as a UUID."""
    return {**event, "event_id": uuid.UUID(event["event_id"])}


@pytest.mark.parametrize(
    ("schema_topic", "event"),
    [
        ("casebus.penalty", sample_penalty_event()),
        ("casebus.lead", sample_lead_event()),
        ("casebus.action", sample_action_event(EventType.TRANSFER_REQUESTED)),
        ("casebus.action", sample_action_event(EventType.ACTION_RECORDED)),
        ("casebus.action", sample_action_event(EventType.CASE_LINKED)),
    ],
)
def test_round_trip(
    registry_client: RegistryClient, schema_topic: str, event: dict[str, Any]
) -> None:
    ctx = SerializationContext(fresh_topic())
    data = AvroSerializer(registry_client, schema_topic)(event, ctx)
    assert data[0] == 0
    decoded = AvroDeserializer(registry_client, max_message_bytes=MAX).decode(data, ctx)
    assert decoded.schema_id == int.from_bytes(data[1:5], "big")
    assert decoded.value == as_read(event)


@pytest.fixture
def framed(registry_client: RegistryClient) -> tuple[bytes, SerializationContext]:
    ctx = SerializationContext(fresh_topic())
    return AvroSerializer(registry_client, "casebus.penalty")(sample_penalty_event(), ctx), ctx


def decode_error(
    registry_client: RegistryClient, data: bytes, ctx: SerializationContext, max_bytes: int = MAX
) -> ValueSerializationError:
    with pytest.raises(ValueSerializationError) as caught:
        AvroDeserializer(registry_client, max_message_bytes=max_bytes)(data, ctx)
    assert ctx.topic in str(caught.value)
    return caught.value


def test_bad_magic_byte(registry_client: RegistryClient, framed: tuple[bytes, Any]) -> None:
    data, ctx = framed
    error = decode_error(registry_client, b"\x01" + data[1:], ctx)
    assert isinstance(error.inner, BadMagicByte) and not error.transient


@pytest.mark.parametrize("cut", [0, 3, 5, 40, -1])
def test_truncated(registry_client: RegistryClient, framed: tuple[bytes, Any], cut: int) -> None:
    data, ctx = framed
    error = decode_error(registry_client, data[:cut], ctx)
    assert isinstance(error.inner, TruncatedMessage) and not error.transient


def test_trailing_bytes(registry_client: RegistryClient, framed: tuple[bytes, Any]) -> None:
    data, ctx = framed
    error = decode_error(registry_client, data + b"\x00\x02", ctx)
    assert isinstance(error.inner, TrailingBytes)
    assert "2 bytes left" in str(error)


def test_oversized(registry_client: RegistryClient, framed: tuple[bytes, Any]) -> None:
    data, ctx = framed
    error = decode_error(registry_client, data, ctx, max_bytes=len(data) - 1)
    assert isinstance(error.inner, OversizedMessage)


def test_unknown_schema_id(registry_client: RegistryClient, framed: tuple[bytes, Any]) -> None:
    data, ctx = framed
    error = decode_error(registry_client, frame(987_654, data[5:]), ctx)
    assert isinstance(error.inner, UnknownSchemaId) and not error.transient


def test_malformed_body(registry_client: RegistryClient, framed: tuple[bytes, Any]) -> None:
    data, ctx = framed
    error = decode_error(registry_client, data[:5] + b"\xff" * 60, ctx)
    assert isinstance(error.inner, MalformedMessage | TruncatedMessage)


def test_registry_unavailable_is_transient(framed: tuple[bytes, Any]) -> None:
    data, ctx = framed
    down = RegistryClient(f"http://127.0.0.1:{free_port()}", retries=1, backoff=0.01)
    error = decode_error(down, data, ctx)
    assert isinstance(error.inner, SchemaRegistryUnavailable)
    assert error.transient  # pause and retry, never DLQ


@pytest.mark.offline
def test_serializer_registry_unavailable_is_transient() -> None:
    down = RegistryClient(f"http://127.0.0.1:{free_port()}", retries=1, backoff=0.01)
    ctx = SerializationContext(fresh_topic())
    with pytest.raises(ValueSerializationError) as caught:
        AvroSerializer(down, "casebus.penalty")(sample_penalty_event(), ctx)
    assert isinstance(caught.value.inner, SchemaRegistryUnavailable) and caught.value.transient


def test_wrong_type_names_the_field(registry_client: RegistryClient) -> None:
    event = sample_penalty_event()
    event["penalty"]["fine_amount"] = 1.5
    ctx = SerializationContext(fresh_topic())
    with pytest.raises(ValueSerializationError) as caught:
        AvroSerializer(registry_client, "casebus.penalty")(event, ctx)
    assert isinstance(caught.value.inner, SchemaMismatch)
    assert "fine_amount" in str(caught.value) and ctx.topic in str(caught.value)


def test_key_errors_are_key_serialization_errors(registry_client: RegistryClient) -> None:
    ctx = SerializationContext(fresh_topic(), "key")
    with pytest.raises(KeySerializationError):
        AvroDeserializer(registry_client, max_message_bytes=MAX)(b"\x00", ctx)


def test_without_auto_register_an_unknown_schema_fails(registry_client: RegistryClient) -> None:
    ctx = SerializationContext(fresh_topic())
    serializer = AvroSerializer(registry_client, "casebus.penalty", auto_register=False)
    with pytest.raises(ValueSerializationError) as caught:
        serializer(sample_penalty_event(), ctx)
    assert isinstance(caught.value.inner, UnknownSchemaId)


class CountingClient(RegistryClient):
    """A real client that counts schema fetches (to see the deserializer's own cache)."""

    fetches = 0

    def get_schema(self, schema_id: int) -> str:
        self.fetches += 1
        return super().get_schema(schema_id)


def test_writer_schemas_are_cached_by_id(registry_url: str) -> None:
    client = CountingClient(registry_url, auth=admin_auth())
    ctx = SerializationContext(fresh_topic())
    data = AvroSerializer(admin_registry(registry_url), "casebus.lead")(sample_lead_event(), ctx)
    deserializer = AvroDeserializer(client, max_message_bytes=MAX)
    for _ in range(5):
        deserializer(data, ctx)
    assert client.fetches == 1


def test_reader_schema_resolves_old_events(registry_client: RegistryClient) -> None:
    """A consumer with a newer schema reads an event written before a field was added."""
    from casebus.contracts.schemas import schema_for_topic

    ctx = SerializationContext(fresh_topic())
    data = AvroSerializer(registry_client, "casebus.lead")(sample_lead_event(), ctx)
    newer = schema_for_topic("casebus.lead")
    newer["fields"].append({"name": "priority", "type": ["null", "int"], "default": None})
    value = AvroDeserializer(registry_client, max_message_bytes=MAX, reader_schema=newer)(data, ctx)
    assert value["priority"] is None
