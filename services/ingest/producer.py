"""All-or-nothing batches, committed together: one Kafka transaction for every request
waiting, on one transactional producer (group commit).

Each HTTP request hands its signed records over with `submit` and waits on the future it
gets back. Committer threads (`group_committers`, each with its own transactional producer)
take the queue: while a transaction is in flight, the requests that arrive queue up, and the
next transaction takes all of them (up to `group_max_events` records; after waiting at most
`group_linger_ms` for more, when set). With two committers, one transaction begins while
the other commits. A request's records
always go into one transaction together, in order; requests go in the order they arrived.

Records arrive framed but unsigned, each request with the function that signs for its
caller: the committer signs each caller's records of a transaction together, one signature
per `batch.BATCH` of them (casebus/provenance/signing.py), instead of one per request, and
off the event loop that answers the requests.

A request's future is resolved only after `commit_transaction` returned, never before. Any
failure aborts the transaction (or leaves it to be aborted when the next producer with the
same transactional id fences this one) and fails every request in it with
`KafkaUnavailable` (503): read_committed consumers see none of their records. kafka-python's
transaction calls wait without a bound, so they run on a helper thread with a deadline
(casebus/kafka/bounded.py); past it the transaction is reported unavailable, never accepted.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import NamedTuple, TypeVar

from kafka import KafkaProducer

from casebus.config import Settings
from casebus.kafka.bounded import bounded, bounded_make
from casebus.kafka.clients import abandon, make_producer
from casebus.security.principals import INGEST
from services.ingest.settings import IngestSettings

log = logging.getLogger(__name__)
T = TypeVar("T")
Record = tuple[str, bytes, bytes, list[tuple[str, bytes]]]  # topic, key, value, headers
# Signs a caller's records (their headers gain the signature), in order; may raise.
Sign = Callable[[Sequence[Record]], list[Record]]


class KafkaUnavailable(Exception):
    """The batch was not committed; the caller may retry it (event ids are stable)."""


def _bounded(fn: Callable[[], T], timeout: float, what: str) -> T:
    """`bounded`, any failure reported as the batch being unavailable (503)."""
    try:
        return bounded(fn, timeout, what)
    except Exception as exc:
        raise KafkaUnavailable(f"{what}: {exc}") from exc


def _new_producer(make: Callable[[], KafkaProducer], timeout: float) -> KafkaProducer:
    """A transactional producer, its transactions initialised within `timeout`, or
    KafkaUnavailable; one that fails or comes too late is closed, never left running."""

    def ready() -> KafkaProducer:
        producer = make()
        try:
            producer.init_transactions()
        except BaseException:
            abandon(producer)
            raise
        return producer

    try:
        return bounded_make(ready, timeout, "init", abandon)
    except Exception as exc:
        raise KafkaUnavailable(f"init: {exc}") from exc


class _Request(NamedTuple):
    records: list[Record]
    signer: str  # who signs them: requests of one signer in a transaction share signatures
    sign: Sign
    done: Future[None]


class TransactionalPublisher:
    def __init__(self, settings: Settings, transactional_id: str) -> None:
        own = IngestSettings.of(settings)
        self.settings = settings
        self.timeout = own.kafka_timeout_seconds
        self.max_events = own.group_max_events
        self.linger = own.group_linger_ms / 1000
        self.transactions = 0  # committed so far (tests, logs)
        self._waiting: list[_Request] = []
        self._changed = threading.Condition()
        self._closed = False
        # Each committer its own producer and transactional id (the first keeps the given
        # one, so a restarted endpoint fences what its predecessor left open).
        self._committers = [
            _Committer(self, transactional_id if n == 0 else f"{transactional_id}-{n}")
            for n in range(own.group_committers)
        ]
        self._started = False

    def submit(self, records: list[Record], signer: str, sign: Sign) -> Future[None]:
        """Queue (topic, key, value, headers) records for the next transaction, to be signed
        by `sign` (for `signer`) with the others of that signer in the transaction. The
        future's result is None once they are committed; its exception `KafkaUnavailable`
        if they were not (signing failed, or Kafka did)."""
        done: Future[None] = Future()
        with self._changed:
            if self._closed:
                raise KafkaUnavailable("the ingest endpoint is shutting down")
            self._waiting.append(_Request(records, signer, sign, done))
            if not self._started:
                self._started = True
                for committer in self._committers:
                    committer.start()
            self._changed.notify()
        return done

    @property
    def _producer(self) -> KafkaProducer | None:
        """The first committer's producer (tests)."""
        return self._committers[0].producer

    def next_group(self) -> list[_Request]:
        """The requests of the next transaction: all that wait, up to `max_events` records
        (a larger request goes alone); [] once closed with nothing left."""
        with self._changed:
            while not self._waiting and not self._closed:
                self._changed.wait()
            if self.linger > 0 and self._waiting:
                until = time.monotonic() + self.linger
                while not self._closed and _events(self._waiting) < self.max_events:
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    self._changed.wait(left)
            group: list[_Request] = []
            events = 0
            for request in self._waiting:
                if group and events + len(request.records) > self.max_events:
                    break
                group.append(request)
                events += len(request.records)
            del self._waiting[: len(group)]
            return group

    def close(self) -> None:
        """Commit what waits, then close the producers."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        for committer in self._committers:
            committer.close()


class _Committer:
    """One thread and its transactional producer, committing group after group: with
    several, a transaction begins while another one commits."""

    def __init__(self, publisher: TransactionalPublisher, transactional_id: str) -> None:
        self.publisher = publisher
        self.transactional_id = transactional_id
        self.timeout = publisher.timeout
        self.producer: KafkaProducer | None = None
        self._thread = threading.Thread(target=self._run, name="ingest-commit", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while True:
            group = self.publisher.next_group()
            if not group:
                return
            group, records = _signed(group)
            if not group:
                continue
            try:
                self._commit(records)
            except Exception as exc:  # every request of the transaction fails alike
                why = str(exc)
                for request in group:
                    request.done.set_exception(KafkaUnavailable(why))
                continue
            self.publisher.transactions += 1
            for request in group:
                request.done.set_result(None)

    def _ready(self) -> KafkaProducer:
        if self.producer is None:
            ms = int(self.timeout * 1000)

            def create() -> KafkaProducer:
                return make_producer(
                    self.publisher.settings,
                    client_id="casebus-ingest",
                    principal=INGEST,
                    transactional_id=self.transactional_id,
                    max_block_ms=ms,
                    request_timeout_ms=ms,
                    delivery_timeout_ms=ms + 5000,
                    linger_ms=0,
                )

            self.producer = _new_producer(create, self.timeout * 2)
        return self.producer

    def _commit(self, records: list[Record]) -> None:
        """Send and commit the records as one transaction, or raise KafkaUnavailable."""
        producer = self._ready()
        try:
            producer.begin_transaction()
            for topic, key, value, headers in records:
                producer.send(topic, key=key, value=value, headers=headers)
            _bounded(lambda: producer.flush(timeout=self.timeout), self.timeout + 2, "send")
            _bounded(producer.commit_transaction, self.timeout, "commit")
        except Exception as exc:
            log.error("transaction of %d records not committed: %s", len(records), exc)
            self._discard(producer)
            raise KafkaUnavailable(str(exc)) from exc

    def _discard(self, producer: KafkaProducer) -> None:
        self.producer = None
        # If the abort does not get through, the next producer with this id fences the
        # open transaction, which aborts it.
        with contextlib.suppress(KafkaUnavailable):
            _bounded(producer.abort_transaction, 2, "abort")
        abandon(producer)  # closing a broken producer must not hold up or mask the 503

    def close(self) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout=self.timeout * 3 + 5)
        if self.producer is not None:
            self.producer.close(timeout=5)


def _signed(group: list[_Request]) -> tuple[list[_Request], list[Record]]:
    """The requests whose signer signed, and their records signed, in the group's order:
    each signer's records signed together. A signer that fails fails its requests alone."""
    signed: dict[int, list[Record]] = {}
    by_signer: dict[str, list[int]] = {}
    for n, request in enumerate(group):
        by_signer.setdefault(request.signer, []).append(n)
    for signer, members in by_signer.items():
        try:
            out = group[members[0]].sign([r for n in members for r in group[n].records])
        except Exception as exc:
            log.error("signing as %s failed: %s", signer, exc)
            for n in members:
                group[n].done.set_exception(KafkaUnavailable(f"signing as {signer}: {exc}"))
            continue
        start = 0
        for n in members:
            end = start + len(group[n].records)
            signed[n], start = out[start:end], end
    kept = [request for n, request in enumerate(group) if n in signed]
    return kept, [r for n in sorted(signed) for r in signed[n]]


def _events(requests: list[_Request]) -> int:
    return sum(len(r.records) for r in requests)
