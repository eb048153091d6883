"""A consumer's lag, per partition it holds, kept in the lag gauges (casebus/observability/
lag.py says how it is computed). The consumer's loop calls `remember` with each batch it
read and `measure` now and then (at most once a second is plenty); both use only what the
client knows locally (positions, the high watermarks of the last fetch responses)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Collection, Sequence
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from casebus.observability import metrics as m
from casebus.observability.lag import PartitionLag, partition_lag

MEASURE_EVERY_SECONDS = 1.0


class ConsumerLag:
    def __init__(self, group: str) -> None:
        self.group = group
        self.lags: dict[TopicPartition, PartitionLag] = {}
        self._last_ms: dict[TopicPartition, int] = {}
        self._measured = 0.0
        self._lock = threading.Lock()  # `total` is read by /readyz, on the server's thread

    def remember(self, records: Sequence[Any]) -> None:
        """The timestamp of the last record read of each partition (kafka-python's records)."""
        last = self._last_ms
        for r in records:
            last[TopicPartition(r.topic, r.partition)] = r.timestamp

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._measured < MEASURE_EVERY_SECONDS:
            return False
        self._measured = now
        return True

    def measure(self, consumer: KafkaConsumer, skip: Collection[TopicPartition] = ()) -> None:
        """Every partition the consumer holds, but `skip` (not sought yet)."""
        now = time.time()
        lags = {
            tp: partition_lag(
                tp.topic,
                tp.partition,
                highwater=consumer.highwater(tp),
                position=consumer.position(tp),
                last_timestamp_ms=self._last_ms.get(tp),
                now=now,
            )
            for tp in consumer.assignment()
            if tp not in skip
        }
        with self._lock:
            gone = set(self.lags) - set(lags)
            self.lags = lags
        for tp in gone:  # handed to another member: it reports them now
            labels = (self.group, tp.topic, str(tp.partition))
            for gauge in (m.LAG, m.LAG_SECONDS):
                with contextlib.suppress(KeyError):
                    gauge.remove(*labels)
        for tp, lag in lags.items():
            labels = (self.group, tp.topic, str(tp.partition))
            if lag.records is not None:
                m.LAG.labels(*labels).set(lag.records)
            if lag.seconds is not None:
                m.LAG_SECONDS.labels(*labels).set(lag.seconds)

    def total(self) -> int:
        with self._lock:
            return sum(lag.records or 0 for lag in self.lags.values())
