"""Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro binary body."""

from __future__ import annotations

import struct

from casebus.serde.errors import BadMagicByte, OversizedMessage, TruncatedMessage

MAGIC_BYTE = 0
HEADER_SIZE = 5
_HEADER = struct.Struct(">BI")


def header(schema_id: int) -> bytes:
    """The 5-byte frame header for a schema id."""
    return _HEADER.pack(MAGIC_BYTE, schema_id)


def frame(schema_id: int, body: bytes) -> bytes:
    return _HEADER.pack(MAGIC_BYTE, schema_id) + body


def unframe(data: bytes, *, topic: str, max_message_bytes: int) -> int:
    """Check the frame and return its schema id; the body starts at HEADER_SIZE."""
    size = len(data)
    if size > max_message_bytes:
        raise OversizedMessage(
            f"message is {size} bytes, limit is {max_message_bytes}", topic=topic
        )
    if size < HEADER_SIZE:
        raise TruncatedMessage(
            f"message is {size} bytes, shorter than the {HEADER_SIZE}-byte header", topic=topic
        )
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC_BYTE:
        raise BadMagicByte(f"magic byte is {magic:#04x}, expected 0x00", topic=topic)
    return int(schema_id)
