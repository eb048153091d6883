"""Serde errors. Each message names the topic; `transient` tells a consumer what to do.

transient=True (the registry is unreachable): pause, retry the same message later, never
DLQ. transient=False (the bytes themselves are bad): send them to the DLQ and move on.
"""

from __future__ import annotations


class SerdeError(Exception):
    """A message could not be serialized or deserialized."""

    transient: bool = False

    def __init__(self, message: str, *, topic: str | None = None) -> None:
        self.topic = topic
        self.reason = message
        super().__init__(f"{topic}: {message}" if topic else message)


class UnknownSchemaId(SerdeError):
    """The registry has no schema with the id in the message header."""


class BadMagicByte(SerdeError):
    """The first byte is not 0: not Confluent-framed Avro."""


class TruncatedMessage(SerdeError):
    """The message ends before its header or its Avro body does."""


class TrailingBytes(SerdeError):
    """Bytes are left after the Avro body: the writer schema does not match the data."""


class OversizedMessage(SerdeError):
    """The message exceeds the configured maximum size."""


class MalformedMessage(SerdeError):
    """The Avro body cannot be decoded with its writer schema (corrupt data)."""


class SchemaMismatch(SerdeError):
    """The object to encode does not fit the topic's schema."""


class SchemaRegistryUnavailable(SerdeError):
    """The registry cannot be reached (after retries). Transient: pause and retry."""

    transient = True


class _WrappedError(SerdeError):
    """confluent-kafka style wrapper around the error of one side (key or value)."""

    def __init__(self, inner: SerdeError) -> None:
        self.inner = inner
        self.transient = inner.transient
        super().__init__(inner.reason, topic=inner.topic)


class KeySerializationError(_WrappedError):
    """Serializing or deserializing the message key failed; `.inner` says how."""


class ValueSerializationError(_WrappedError):
    """Serializing or deserializing the message value failed; `.inner` says how."""
