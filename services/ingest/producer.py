"""All-or-nothing batches: one Kafka transaction per batch, on a transactional producer.

A batch is acknowledged only after `commit_transaction` returned. Any failure aborts the
transaction (or leaves it to be aborted when the next producer with the same
transactional id fences this one): read_committed consumers never see part of a batch.
kafka-python's transaction calls wait without a bound, so they run on a helper thread with
a deadline (casebus/kafka/bounded.py); past it the batch is reported unavailable (503),
never accepted.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from kafka import KafkaProducer

from casebus.config import Settings
from casebus.kafka.bounded import bounded
from casebus.kafka.clients import make_producer
from casebus.security.principals import INGEST
from services.ingest.settings import IngestSettings

log = logging.getLogger(__name__)
T = TypeVar("T")
Record = tuple[str, bytes, bytes, list[tuple[str, bytes]]]  # topic, key, value, headers


class KafkaUnavailable(Exception):
    """The batch was not committed; the caller may retry it (event ids are stable)."""


def _bounded(fn: Callable[[], T], timeout: float, what: str) -> T:
    """`bounded`, any failure reported as the batch being unavailable (503)."""
    try:
        return bounded(fn, timeout, what)
    except Exception as exc:
        raise KafkaUnavailable(f"{what}: {exc}") from exc


class TransactionalPublisher:
    def __init__(self, settings: Settings, transactional_id: str) -> None:
        self.settings = settings
        self.transactional_id = transactional_id
        self.timeout = IngestSettings.of(settings).kafka_timeout_seconds
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()  # one transaction at a time per producer

    def _ready(self) -> KafkaProducer:
        if self._producer is None:
            ms = int(self.timeout * 1000)

            def create() -> KafkaProducer:
                producer = make_producer(
                    self.settings,
                    client_id="casebus-ingest",
                    principal=INGEST,
                    transactional_id=self.transactional_id,
                    max_block_ms=ms,
                    request_timeout_ms=ms,
                    delivery_timeout_ms=ms + 5000,
                    linger_ms=0,
                )
                producer.init_transactions()
                return producer

            self._producer = _bounded(create, self.timeout * 2, "init")
        return self._producer

    def publish(self, records: list[Record]) -> None:
        """Commit signed (topic, key, value, headers) records as one transaction, or raise
        KafkaUnavailable."""
        with self._lock:
            producer = self._ready()
            try:
                producer.begin_transaction()
                for topic, key, value, headers in records:
                    producer.send(topic, key=key, value=value, headers=headers)
                _bounded(lambda: producer.flush(timeout=self.timeout), self.timeout + 2, "send")
                _bounded(producer.commit_transaction, self.timeout, "commit")
            except Exception as exc:
                log.error("batch of %d not committed: %s", len(records), exc)
                self._discard(producer)
                raise KafkaUnavailable(str(exc)) from exc

    def _discard(self, producer: KafkaProducer) -> None:
        self._producer = None
        # If the abort does not get through, the next producer with this id fences the
        # open transaction, which aborts it.
        with contextlib.suppress(KafkaUnavailable):
            _bounded(producer.abort_transaction, 2, "abort")
        try:
            producer.close(timeout=0)
        except Exception as exc:  # closing a broken producer must not mask the 503
            log.debug("closing producer: %s", exc)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
