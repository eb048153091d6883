"""Consumer lag, in records and in seconds, as kafka-lag-exporter reports it.

Per partition: lag in records is the high watermark (the offset the next produced record
gets) minus the consumer's position (the next offset it will read); lag in seconds is how
long ago the last record it consumed was written (now minus that record's timestamp) while
records wait, and 0 once it is caught up. Unknown (None) until the consumer has fetched the
partition once, or, in seconds, until it consumed one of its records.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    records: int | None
    seconds: float | None


def lag_records(highwater: int | None, position: int | None) -> int | None:
    if highwater is None or position is None:
        return None
    return max(0, highwater - position)


def lag_seconds(records: int | None, last_timestamp_ms: int | None, now: float) -> float | None:
    """`now` in seconds since the epoch; `last_timestamp_ms`: the last consumed record's."""
    if records is None:
        return None
    if records == 0:
        return 0.0
    if last_timestamp_ms is None or last_timestamp_ms < 0:
        return None
    return max(0.0, now - last_timestamp_ms / 1000.0)


def partition_lag(
    topic: str,
    partition: int,
    *,
    highwater: int | None,
    position: int | None,
    last_timestamp_ms: int | None,
    now: float,
) -> PartitionLag:
    records = lag_records(highwater, position)
    return PartitionLag(topic, partition, records, lag_seconds(records, last_timestamp_ms, now))
