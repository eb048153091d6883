"""Dead-letter records, the same for every consumer: the original key, value bytes and
headers, plus headers saying what went wrong and where the record was read.

A record a redrive sent back and that failed again (`casebus dlq redrive`) is a new DLQ
record with its new reason, the same original topic, partition and offset, and
`casebus.error.redrive-of` naming the DLQ record it was redriven from (topic:partition:offset).
Reading one back, every `casebus.error.*` header is taken off: what is left is the original."""

from __future__ import annotations

from collections.abc import Sequence

from casebus.ids import ConsumedRecord

ERROR_HEADER_PREFIX = "casebus.error."


REDRIVE_OF = "redrive-of"


def dlq_headers(
    record: ConsumedRecord,
    error_class: str,
    message: str,
    consumer: str,
    redrive_of: str | None = None,
) -> list[tuple[str, bytes]]:
    """The record's own headers, then the error's: class, message, topic, partition, offset."""
    extra = {
        "class": error_class,
        "message": message[:4000],
        "topic": record.topic,
        "partition": str(record.partition),
        "offset": str(record.offset),
        "consumer": consumer,
    }
    if redrive_of is not None:
        extra[REDRIVE_OF] = redrive_of
    own = [(k, v if isinstance(v, bytes) else bytes(v or b"")) for k, v in record.headers or []]
    return own + [(ERROR_HEADER_PREFIX + k, v.encode("utf-8")) for k, v in extra.items()]


def original_headers(headers: Sequence[tuple[str, bytes]] | None) -> tuple[tuple[str, bytes], ...]:
    """A DLQ record's headers without the DLQ's own: the original record's, as signed."""
    return tuple((k, v) for k, v in headers or () if not k.startswith(ERROR_HEADER_PREFIX))
