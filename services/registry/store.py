"""The `_schemas` topic as the registry's source of truth.

One partition, compacted, created if missing. A background thread tails it from the start
and applies every record to RegistryState. A write appends a request record, then waits
until the tail has applied that record's offset and answers with the outcome the replay
decided — so every process that reads the log agrees on ids and versions.

In a two-region deployment the other region's registry is a follower: it tails the
primary's `_schemas` as MirrorMaker 2 copies it (`luzhou._schemas`) and writes nothing, so a
schema id means the same schema on both clusters by construction (docs/regions.md).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from casebus.config import Settings, TopicSpec
from casebus.kafka.clients import connection_options, make_admin, make_producer
from casebus.kafka.topics import ensure_topics_when_ready
from casebus.regions import share_header
from casebus.security.principals import REGISTRY
from services.registry.state import RegistryState, Reply

log = logging.getLogger(__name__)
T = TypeVar("T")


class StoreUnavailable(Exception):
    """Kafka did not answer in time: the request may be retried (503)."""


class KafkaStore:
    def __init__(self, settings: Settings, *, timeout: float = 30.0) -> None:
        self._settings = settings
        self._topic = settings.registry.topic
        self._tp = TopicPartition(self._topic, 0)
        self._timeout = timeout
        self.state = RegistryState(default_level=settings.registry.compatibility)
        self._cond = threading.Condition()
        self._applied = 0  # next offset to apply
        self._outcomes: dict[str, Reply] = {}  # request id -> outcome, for waiting writers
        self._waiting: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._probe_lock = threading.Lock()
        self._connection = connection_options(settings, REGISTRY)
        self._consumer = KafkaConsumer(enable_auto_commit=False, **self._connection)
        self._probe = KafkaConsumer(enable_auto_commit=False, **self._connection)
        self._producer: KafkaProducer | None = None
        self.follows = settings.registry.follows  # the primary's alias; empty: primary
        # A primary in a two-region deployment marks its records for the link to copy.
        self._headers = [(share_header(r.code), b"1") for r in settings.other_regions]
        self._copying = threading.Event()  # a follower: the copy exists and is being read

    @property
    def mode(self) -> str:
        """Confluent's name for what the registry accepts: READONLY for a follower."""
        return "READONLY" if self.follows else "READWRITE"

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self.follows:
            # Serve at once (the link checks this registry's mode before it copies anything);
            # tail the copy from when the link has created it.
            self._thread = threading.Thread(target=self._follow, name="registry-tail", daemon=True)
            self._thread.start()
            return
        self._ensure_topic()
        # acks=all, idempotent, retried through a leader change (casebus/kafka/clients.py).
        self._producer = make_producer(self._settings, "casebus-registry", principal=REGISTRY)
        self._consumer.assign([self._tp])
        self._consumer.seek_to_beginning(self._tp)
        self._thread = threading.Thread(target=self._tail, name="registry-tail", daemon=True)
        self._thread.start()
        self.sync()
        log.info("registry state loaded from %s: %d schemas", self._topic, len(self.state.schemas))

    def _follow(self) -> None:
        self._wait_for_copy()
        if self._stop.is_set():
            return
        self._consumer.assign([self._tp])
        self._consumer.seek_to_beginning(self._tp)
        self._copying.set()
        log.info("following %s", self._topic)
        self._tail()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._producer is not None:
            self._producer.close(timeout=5)
        self._consumer.close()
        self._probe.close()

    def _admin(self) -> KafkaAdminClient:
        return make_admin(self._settings, client_id="casebus-registry-admin", principal=REGISTRY)

    def _ensure_topic(self) -> None:
        spec = TopicSpec(name=self._topic, partitions=1, config={"cleanup.policy": "compact"})
        if ensure_topics_when_ready(self._admin, self._settings, (spec,)).created:
            log.info("created topic %s", self._topic)

    def _wait_for_copy(self) -> None:
        """A follower's topic is created by the link, at its first copy: wait for it."""
        waited = 0.0
        while not self._stop.is_set():
            with self._probe_lock:
                if self._probe.partitions_for_topic(self._topic):
                    return
            if waited % 30 == 0:
                log.warning(
                    "waiting for %s, the primary registry's schemas as the link copies them "
                    "(is `casebus mirror run` running?)",
                    self._topic,
                )
            self._stop.wait(1.0)
            waited += 1.0

    # -- reading the log -------------------------------------------------------------------

    def _tail(self) -> None:
        while not self._stop.is_set():
            try:
                batches = self._consumer.poll(timeout_ms=100)
                position = self._consumer.position(self._tp)
            except Exception:
                log.exception("reading %s failed; retrying", self._topic)
                self._stop.wait(1.0)
                continue
            with self._cond:
                for records in batches.values():
                    for record in records:
                        self._apply(record.key, record.value)
                        self._applied = record.offset + 1
                self._applied = max(self._applied, position)
                self._cond.notify_all()

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            return  # tombstone: nothing we write, nothing to apply
        try:
            record = json.loads(value)
            outcome = self.state.apply(record)
        except Exception as exc:
            # Like Karapace: move past an entry we cannot use, so the registry makes progress.
            log.warning("skipping bad %s record %r: %s", self._topic, key, exc)
            return
        request = record.get("request")
        if request in self._waiting:
            self._outcomes[request] = outcome

    def sync(self) -> None:
        """Wait until everything in the log now has been applied (read-your-writes)."""
        if self.follows and not self._copying.is_set():
            return  # nothing copied yet: nothing to wait for
        with self._probe_lock:
            end = self._probe.end_offsets([self._tp])[self._tp]
        self._wait_for(lambda: self._applied >= end)

    def _wait_for(self, predicate: Callable[[], bool]) -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, timeout=self._timeout):
                raise StoreUnavailable(f"timed out reading {self._topic}")

    # -- reads and writes ------------------------------------------------------------------

    def read(self, func: Callable[[RegistryState], T]) -> T:
        """Run a read against a consistent state (under the apply lock)."""
        with self._cond:
            return func(self.state)

    def write(self, kind: str, **fields: Any) -> Reply:
        """Append a request record and return the outcome the log replay gives it."""
        if self.follows:
            return Reply(
                422,
                42205,
                f"this registry serves the schemas of {self.follows}'s registry read-only: "
                f"register, configure and delete there",
            )
        assert self._producer is not None, "store not started"
        request = uuid.uuid4().hex
        record = {"kind": kind, "request": request, **fields}
        key = json.dumps({"kind": kind, "request": request}).encode()
        with self._cond:
            self._waiting.add(request)
        try:
            future = self._producer.send(
                self._topic,
                key=key,
                value=json.dumps(record).encode(),
                partition=0,
                headers=self._headers,
            )
            offset = future.get(timeout=self._timeout).offset
            self._wait_for(lambda: self._applied > offset)
            with self._cond:
                return self._outcomes.pop(request, Reply(500, 50001, "request was not applied"))
        except StoreUnavailable:
            raise
        except Exception as exc:
            raise StoreUnavailable(f"writing to {self._topic} failed: {exc}") from exc
        finally:
            with self._cond:
                self._waiting.discard(request)
                self._outcomes.pop(request, None)
