"""Dead-letter records, the same for every consumer: the original key, value bytes and
headers, plus headers saying what went wrong and where the record was read."""

from __future__ import annotations

from casebus.ids import ConsumedRecord

ERROR_HEADER_PREFIX = "casebus.error."


def dlq_headers(
    record: ConsumedRecord, error_class: str, message: str, consumer: str
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
    own = [(k, v if isinstance(v, bytes) else bytes(v or b"")) for k, v in record.headers or []]
    return own + [(ERROR_HEADER_PREFIX + k, v.encode("utf-8")) for k, v in extra.items()]
