"""The feeds service: consume-transform-produce from casebus.lead into every platform's feed.

One Kafka transaction per polled batch holds, for every lead event in it:
  1. the redacted lead for each platform that may see it now, and a tombstone for each that
     held it and may not any more (casebus.feed.<platform>.leads),
  2. the lead's new entry in the changelog of what each platform holds (state topic),
  3. DLQ records for events that are not signed by their owner (casebus.provenance), cannot
     be decoded, are invalid, or conflict,
  4. the consumed offsets (sent to the transaction, not committed by the consumer);
then it commits. A crash anywhere before the commit aborts all of it (the next producer
with the same transactional id fences this one and aborts its open transaction), and the
batch is read again from the committed offsets: a read_committed reader sees every feed
record once.

Every feed record is signed with the feeds service's own key: the redacted lead is new
content, which the owner's signature cannot cover.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.errors import (
    AuthorizationError,
    KafkaError,
    ProducerFencedError,
    SaslAuthenticationFailedError,
)

from casebus import stall
from casebus.config import Platform, Settings, TopicSpec
from casebus.contracts.partner import partner_contract
from casebus.events import LEAD_TOPIC
from casebus.kafka.bounded import Stuck, bounded, fenced
from casebus.kafka.clients import (
    abandon,
    make_admin,
    make_consumer,
    make_producer,
    poll_timeout_ms,
)
from casebus.kafka.topics import ensure_topics_when_ready
from casebus.observability.service import Observability
from casebus.provenance.keys import load_signing_key
from casebus.provenance.signing import Signer
from casebus.records import content_digest
from casebus.registry.client import registry_for
from casebus.retry import Backoff, RetryAfter
from casebus.revisions import Outcome
from casebus.security.principals import FEEDS
from casebus.serde import AvroSerializer, SerdeError, SerializationContext
from casebus.topics import TopicNames
from pipeline.coverage import StuckWatch, WedgeCheck
from pipeline.dlq import DeadLetters
from pipeline.inbound import Inbound
from pipeline.items import Refused
from pipeline.reading import CLOSE_TIMEOUT_MS
from services.feeds.metrics import FeedObserver
from services.feeds.route import route
from services.feeds.settings import FeedTuning
from services.feeds.state import FeedState, LeadKey
from services.feeds.visibility import audience

log = logging.getLogger(__name__)

REVISION_HEADER = "casebus.revision"
_RESTORE_POLL_MS = 500
COMMITTED_TIMEOUT_MS = 10_000  # reading the group's committed offsets back after an abort
FEED_RETRY_MAX_SECONDS = 10.0  # the backoff's cap while the broker or registry is away
# The outcomes a lead event can have here, in the report's order.
FEED_OUTCOMES = (
    Outcome.APPLIED,
    Outcome.STALE,
    Outcome.DUPLICATE,
    Outcome.CONFLICT,
    Outcome.REJECTED,
)


@dataclass
class FeedReport:
    counts: dict[str, int] = field(default_factory=dict)  # outcome -> lead events
    produced: int = 0  # feed records (values and tombstones)
    retracted: int = 0
    unseen: int = 0  # applied, but no platform may see it and none held it
    dead_lettered: int = 0
    transactions: int = 0
    aborted: int = 0
    producers_replaced: int = 0  # a transaction call that never returned
    consumers_replaced: int = 0  # a Kafka client that stopped fetching
    seconds: float = 0.0
    # For the metrics (services/feeds/metrics.py): per platform code, per DLQ reason.
    forwarded_to: Counter[str] = field(default_factory=Counter)
    retracted_from: Counter[str] = field(default_factory=Counter)
    dead_by: Counter[str] = field(default_factory=Counter)

    @property
    def events(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        parts = ", ".join(f"{o.value} {self.counts.get(o.value, 0)}" for o in FEED_OUTCOMES)
        rate = self.events / self.seconds if self.seconds else 0.0
        return (
            f"feeds: {self.events} lead events in {self.seconds:.1f}s ({rate:,.0f}/s): {parts}; "
            f"{self.unseen} seen by no platform; "
            f"{self.produced} feed records ({self.retracted} retractions), "
            f"DLQ {self.dead_lettered}, {self.transactions} transactions, {self.aborted} aborted"
            + (
                f", {self.producers_replaced} stuck producers replaced"
                if self.producers_replaced
                else ""
            )
            + (
                f", {self.consumers_replaced} stalled Kafka clients replaced"
                if self.consumers_replaced
                else ""
            )
        )


class FeedService:
    def __init__(self, settings: Settings, *, client_id: str = "casebus-feeds") -> None:
        self.settings, self.fs = settings, settings.feeds
        self.observer: FeedObserver | None = None  # set by run_feeds with a metrics port
        self.tuning = FeedTuning.of(settings)
        self.platforms: tuple[Platform, ...] = settings.platforms
        self.topics = {p.code: self.fs.feed_topic(p) for p in self.platforms}
        self.report = FeedReport()
        self._registry = registry_for(settings, FEEDS)
        contract = partner_contract()
        self._redact = contract.redact
        self._serializer = AvroSerializer(self._registry, LEAD_TOPIC, schema=contract.schema)
        self._inbound = Inbound(
            settings, self._registry, TopicNames({LEAD_TOPIC: self.fs.source_topic})
        )
        self._backoff = Backoff(FEED_RETRY_MAX_SECONDS)
        self._signer = Signer(load_signing_key(settings, settings.provenance.feeds_owner))
        self._ensure_topics()
        self._client_id = client_id
        self.producer = self._ready_producer()
        self.dead_letters = DeadLetters(self.producer, self.fs.dlq_topic, self.fs.group_id)
        self.state = self._restore()
        self.consumer = self._new_consumer()
        self._quiet = StuckWatch(self.tuning.stuck_after_seconds)
        self._wedge = WedgeCheck()

    def _new_consumer(self) -> KafkaConsumer:
        # A killed instance's partitions pass to its successor once its session ends.
        consumer = make_consumer(
            self.settings,
            self.fs.group_id,
            self._client_id,
            principal=FEEDS,
            max_poll_records=self.tuning.batch_size,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_500,
        )
        consumer.subscribe([self.fs.source_topic])
        return consumer

    def _replace_consumer(self) -> None:
        """A new Kafka client for one that stopped fetching or cannot read the committed
        offsets; it resumes from the committed offsets, as the state restored does (this is
        called between transactions, so the two agree)."""
        old = self.consumer
        try:  # a wedged client's close may wait for good too: it must not stop its successor
            bounded(
                lambda: old.close(autocommit=False, timeout_ms=CLOSE_TIMEOUT_MS),
                CLOSE_TIMEOUT_MS / 1000 + 5,
                "close",
            )
        except Exception as exc:
            log.warning("closing the replaced Kafka client: %s", exc)
        self.consumer = self._new_consumer()
        self.report.consumers_replaced += 1

    def _new_producer(self) -> KafkaProducer:
        txn = {"transactional_id": self.fs.transactional_id} if self.fs.transactions else {}
        producer = make_producer(self.settings, self._client_id, principal=FEEDS, **txn)
        if self.fs.transactions:
            # Fences an earlier instance (or an earlier producer of this one) and resolves
            # the transaction it left open, so the state restored next is what was committed.
            try:
                producer.init_transactions()
            except KafkaError:
                with contextlib.suppress(Exception):
                    producer.close(timeout=0)
                raise
        return producer

    def _replace_producer(self) -> None:
        """A producer whose transaction call never returned is given up: a new one with the
        same transactional id fences it; the state and the offsets are read back as they
        were committed (the stuck transaction may have committed or not)."""
        log.error("transactional producer stuck; replacing it")
        abandon(self.producer)
        self.producer = self._ready_producer()
        self.dead_letters = DeadLetters(self.producer, self.fs.dlq_topic, self.fs.group_id)
        self.state = self._restore()
        self.report.producers_replaced += 1

    def _ready_producer(self) -> KafkaProducer:
        """A new producer, its transactions initialised. The transaction coordinator may be
        moving (a node lost, at start too): wait for it, never give up; a refusal (no grant
        on the transactional id, a wrong secret) ends the service at once."""
        while True:
            try:
                return self._new_producer()
            except KafkaError as exc:
                if isinstance(exc, (AuthorizationError, SaslAuthenticationFailedError)):
                    raise
                log.warning("new transactional producer not ready (%s); trying again", exc)
                self._backoff.wait()

    def _bounded(self, fn: Callable[[], object], what: str) -> None:
        bounded(fn, self.tuning.transaction_deadline_seconds, what)

    def _ensure_topics(self) -> None:
        compact = {"cleanup.policy": "compact"}
        specs = [TopicSpec(name=t, partitions=3, config=compact) for t in self.topics.values()]
        specs.append(TopicSpec(name=self.fs.state_topic, partitions=3, config=compact))
        specs.append(TopicSpec(name=self.fs.dlq_topic, partitions=1))
        ensure_topics_when_ready(
            lambda: make_admin(self.settings, client_id="casebus-feeds-admin", principal=FEEDS),
            self.settings,
            tuple(specs),
        )

    def _restore(self) -> FeedState:
        """Read the changelog from its start to its last committed record. A broker lost
        meanwhile (a node of a replicated cluster killed) is waited out and the changelog
        read again, not left to end the process; any other Kafka error ends it."""
        while True:
            try:
                return self._read_state()
            except KafkaError as exc:
                if not exc.retriable:
                    raise
                log.warning("feed state not read (%s); reading it again", exc)
                self._backoff.wait()

    def _read_state(self) -> FeedState:
        started = time.monotonic()
        reader = make_consumer(self.settings, None, "casebus-feeds-restore", principal=FEEDS)
        try:
            parts = [
                TopicPartition(self.fs.state_topic, p)
                for p in sorted(reader.partitions_for_topic(self.fs.state_topic))
            ]
            reader.assign(parts)
            reader.seek_to_beginning(*parts)
            ends = reader.end_offsets(parts)
            records: list[tuple[bytes, bytes | None]] = []
            while any(reader.position(tp) < ends[tp] for tp in parts):
                for batch in reader.poll(timeout_ms=_RESTORE_POLL_MS).values():
                    records.extend((r.key, r.value) for r in batch)
        finally:
            reader.close()
        state = FeedState.restore(records)
        log.info(
            "restored feed state: %d leads, held %s (%.1fs)",
            len(state),
            state.holders_count(),
            time.monotonic() - started,
        )
        return state

    # -- the loop ----------------------------------------------------------------------------

    def run(
        self, stop: threading.Event, *, until_idle: bool = False, limit: int | None = None
    ) -> FeedReport:
        """Forward until `stop` (or idle, with until_idle; or `limit` lead events read)."""
        started = time.monotonic()
        observer = self.observer
        try:
            while not stop.is_set() and (limit is None or self.report.events < limit):
                stall.arm()  # a loop stuck in some call says where
                if observer is not None:
                    observer.turned(self.consumer)
                polled = self._poll(until_idle)
                records = [r for tp in sorted(polled) for r in polled[tp]]
                if self._quiet.due(bool(records)) and self._wedged():
                    self._replace_consumer()
                    continue
                if records:
                    began = time.perf_counter()
                    self._process(records, stop)
                    if observer is not None:
                        observer.processed(records, time.perf_counter() - began)
                elif until_idle and self._idle():
                    break
        finally:
            stall.disarm()
            self.report.seconds = time.monotonic() - started
        return self.report

    def _process(self, records: Sequence[Any], stop: threading.Event) -> None:
        try:
            self._in_transaction(records)
        except ProducerFencedError:
            raise  # another instance took over: this one must stop
        except (KafkaError, RetryAfter) as exc:
            if fenced(self.producer):
                raise ProducerFencedError() from exc
            log.warning("batch not committed (%s); reading it again", exc)
            self.report.aborted += 1
            self.state.abort()
            if isinstance(exc, Stuck):
                self._replace_producer()
            elif self.fs.transactions:
                try:
                    self._bounded(self.producer.abort_transaction, "abort")
                except (KafkaError, Stuck) as abort_exc:
                    # A producer in kafka-python's fatal state refuses every call from now
                    # on (abort included): only a new one with the same id gets going again.
                    if fenced(self.producer):
                        raise ProducerFencedError() from abort_exc
                    log.warning("abort failed (%s)", abort_exc)
                    self._replace_producer()
            self._rewind()
            self._backoff.wait(stop, exc.retry_after if isinstance(exc, RetryAfter) else None)
            return
        self._backoff.reset()

    def _in_transaction(self, records: Sequence[Any]) -> None:
        if self.fs.transactions:
            self.producer.begin_transaction()
        for record in records:
            self._forward(record)
        offsets = {}
        for r in records:
            offsets[TopicPartition(r.topic, r.partition)] = OffsetAndMetadata(r.offset + 1, "", -1)
        if self.fs.transactions:
            group = self.consumer.group_metadata()
            self._bounded(
                lambda: self.producer.send_offsets_to_transaction(offsets, group), "offsets"
            )
            self._bounded(self.producer.commit_transaction, "commit")
        else:  # bench/feeds.py's comparison: at-least-once, offsets after the acks
            self.producer.flush()
            self.consumer.commit(offsets)
        self.state.commit()
        self.report.transactions += 1

    def _forward(self, record: Any) -> None:
        item = self._inbound.decode_one(record)  # signature, decode, signer, topic
        if isinstance(item, Refused):
            self._refuse(record, item.error_class, item.message)
            return
        event = item.event
        key: LeadKey = f"{event['owner']}/{event['record_id']}"
        digest = content_digest(event, "lead")
        previous = self.state.get(key)
        routed = route(previous, event["revision"], digest, audience(event, self.platforms))
        if routed.seen is not None:  # it changes something: it must be valid (as in sync)
            problem = self._inbound.check(event, "lead")
            if problem is not None:
                self._refuse(record, "ValidationError", problem)
                return
        outcome = routed.result.outcome
        self.report.counts[outcome.value] = self.report.counts.get(outcome.value, 0) + 1
        self.report.unseen += routed.unseen
        if outcome is Outcome.CONFLICT:
            self.dead_letters.send(record, "RevisionConflict", routed.result.detail or "")
            self.report.dead_lettered += 1
            self.report.dead_by["RevisionConflict"] += 1
        if routed.seen is None:
            return
        key_bytes = key.encode()
        revision = [(REVISION_HEADER, str(event["revision"]).encode())]
        if routed.publish:
            partner = self._redact(event)
            for code in sorted(routed.publish):
                topic = self.topics[code]
                value = self._serialize(partner, topic)
                headers = self._signer.sign(topic, key_bytes, value, revision)
                self.producer.send(topic, key=key_bytes, value=value, headers=headers)
                self.report.produced += 1
                self.report.forwarded_to[code] += 1
        for code in sorted(routed.retract):
            topic = self.topics[code]
            headers = self._signer.sign(topic, key_bytes, None, revision)
            self.producer.send(topic, key=key_bytes, value=None, headers=headers)
            self.report.produced += 1
            self.report.retracted += 1
            self.report.retracted_from[code] += 1
        self.producer.send(self.fs.state_topic, key=key_bytes, value=routed.seen.to_bytes())
        self.state.put(key, routed.seen)

    def _serialize(self, partner: dict[str, Any], topic: str) -> bytes:
        try:
            return self._serializer(partner, SerializationContext(topic))
        except SerdeError as exc:
            if exc.transient:  # the registry is away: the batch is aborted and read again
                raise RetryAfter(f"registry: {exc}") from exc
            raise

    def _refuse(self, record: Any, error_class: str, message: str) -> None:
        self.report.counts[Outcome.REJECTED.value] = (
            self.report.counts.get(Outcome.REJECTED.value, 0) + 1
        )
        self.dead_letters.send(record, error_class, message)
        self.report.dead_lettered += 1
        self.report.dead_by[error_class] += 1

    def _poll(self, until_idle: bool) -> dict[TopicPartition, list[Any]]:
        """The next records. A poll that has not returned within `stuck_after_seconds` is
        given up with its client (the node-kill test once saw a poll of kafka-python 3.0.12
        wait for a lost group coordinator for good, its own timeout notwithstanding)."""
        consumer = self.consumer
        timeout_ms = poll_timeout_ms(self.tuning.poll_timeout_ms, until_idle=until_idle)
        try:
            return bounded(
                lambda: consumer.poll(timeout_ms=timeout_ms, max_records=self.tuning.batch_size),
                self.tuning.stuck_after_seconds,
                "poll",
            )
        except Stuck:
            log.warning(
                "stalled: a poll did not return in %.0fs; replacing the Kafka client",
                self.tuning.stuck_after_seconds,
            )
            self._replace_consumer()
            return {}

    def _wedged(self) -> bool:
        held = sorted(self.consumer.assignment())
        return bool(held) and self._wedge.wedged(self.consumer, held, self._quiet.after)

    def _rewind(self) -> None:
        """Back to the committed offsets: the aborted batch is read again. If they cannot be
        read in time, a new client reads on from them (kafka-python waits without end)."""
        try:
            for tp in self.consumer.assignment():
                committed = self.consumer.committed(tp, timeout_ms=COMMITTED_TIMEOUT_MS)
                if committed is None:
                    self.consumer.seek_to_beginning(tp)
                else:
                    self.consumer.seek(tp, committed)
        except KafkaError as exc:
            log.warning("committed offsets not read (%s); replacing the Kafka client", exc)
            self._replace_consumer()

    def _idle(self) -> bool:
        """Every partition of the source topic assigned here and read to its end."""
        wanted = self.consumer.partitions_for_topic(self.fs.source_topic)
        assigned = self.consumer.assignment()
        if not wanted or {tp.partition for tp in assigned} != set(wanted):
            return False
        ends = self.consumer.end_offsets(list(assigned))
        return all(self.consumer.position(tp) >= ends[tp] for tp in assigned)

    def close(self) -> None:
        self.consumer.close(autocommit=False)
        self.producer.close(timeout=10)
        self._registry.close()


def run_feeds(
    settings: Settings,
    *,
    until_idle: bool = False,
    stop: threading.Event | None = None,
    metrics_port: int = 0,  # /metrics, /healthz, /readyz served there (0: none)
) -> FeedReport:
    service = FeedService(settings)
    obs = None
    try:
        if metrics_port:
            obs = Observability(
                settings,
                "feeds",
                metrics_port,
                principal=FEEDS,
                depth_of=(settings.feeds.dlq_topic,),
            )
            service.observer = FeedObserver(service.report, service.fs.group_id, obs.touch)
            obs.start()
        report = service.run(stop or threading.Event(), until_idle=until_idle)
    finally:
        if obs is not None:
            obs.close()
        service.close()
    log.info("feeds stopped: %s", report.summary())
    return report
