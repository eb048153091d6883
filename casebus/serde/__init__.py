"""Avro serde with Confluent framing: `serializer(obj, ctx) -> bytes`, typed errors."""

from casebus.serde.avro import (
    AvroDeserializer,
    AvroSerializer,
    Decoded,
    SchemaRegistry,
    SerializationContext,
)
from casebus.serde.errors import (
    BadMagicByte,
    KeySerializationError,
    MalformedMessage,
    OversizedMessage,
    SchemaMismatch,
    SchemaRegistryUnavailable,
    SerdeError,
    TrailingBytes,
    TruncatedMessage,
    UnknownSchemaId,
    ValueSerializationError,
)
from casebus.serde.framing import HEADER_SIZE, MAGIC_BYTE, frame, unframe

__all__ = [
    "HEADER_SIZE",
    "MAGIC_BYTE",
    "AvroDeserializer",
    "AvroSerializer",
    "BadMagicByte",
    "Decoded",
    "KeySerializationError",
    "MalformedMessage",
    "OversizedMessage",
    "SchemaMismatch",
    "SchemaRegistry",
    "SchemaRegistryUnavailable",
    "SerdeError",
    "SerializationContext",
    "TrailingBytes",
    "TruncatedMessage",
    "UnknownSchemaId",
    "ValueSerializationError",
    "frame",
    "unframe",
]
