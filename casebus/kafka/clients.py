"""Kafka clients built from settings, with the delivery guarantees DESIGN.md asks for.

Producers: acks=all, idempotence, retries. Consumers: auto-commit off (offsets are stored
where the results are written), read_committed. Callers may override any option.

Every client authenticates as a principal (casebus/security/principals.py): the one whose
job the calling process does, so the broker's ACLs decide what it may touch.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import CoordinatorNotAvailableError

from casebus.config import Settings
from casebus.security.secrets import SecretStore

log = logging.getLogger(__name__)

PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "retries": 2**31 - 1,  # bounded by delivery_timeout_ms, not a count
    "max_in_flight_requests_per_connection": 5,  # idempotence keeps order up to 5
    "linger_ms": 5,
    "batch_size": 256 * 1024,
    "compression_type": "lz4",
    "delivery_timeout_ms": 120_000,
    # Kafka's Java default: a node back after a crash is reconnected to within a second
    # (kafka-python's own default backs off up to 30 s).
    "reconnect_backoff_max_ms": 1000,
}

CONSUMER_DEFAULTS: dict[str, Any] = {
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "isolation_level": "read_committed",
    "max_poll_records": 2000,
    # At most this much per fetch response (kafka-python's default is 50 MB): a consumer of
    # many partitions otherwise holds up to 1 MB of every partition it reads at once.
    "fetch_max_bytes": 4 * 1024 * 1024,
    "reconnect_backoff_max_ms": 1000,  # as the producer's
}


def client_options(
    bootstrap: str,
    protocol: str,
    *,
    ca_file: Path | None = None,
    mechanism: str = "",
    user: str = "",
    password: str = "",
) -> dict[str, Any]:
    """kafka-python's names for a connection: bootstrap, protocol, CA, SASL credentials."""
    options: dict[str, Any] = {"bootstrap_servers": bootstrap, "security_protocol": protocol}
    if protocol.endswith("SSL"):
        options["ssl_cafile"] = str(ca_file)
    if protocol.startswith("SASL"):
        options["sasl_mechanism"] = mechanism
        options["sasl_plain_username"] = user
        options["sasl_plain_password"] = password
    return options


def connection_options(settings: Settings, principal: str) -> dict[str, Any]:
    """A connection to the configured cluster as `principal`."""
    security = settings.kafka.security
    secret = SecretStore(settings.secrets_dir).get(principal) if security.sasl else ""
    return client_options(
        settings.kafka.bootstrap_servers,
        security.protocol,
        ca_file=settings.ca_file,
        mechanism=security.mechanism,
        user=principal,
        password=secret,
    )


def make_producer(
    settings: Settings, client_id: str, *, principal: str, **overrides: Any
) -> KafkaProducer:
    options = {**PRODUCER_DEFAULTS, **overrides}
    producer = KafkaProducer(
        client_id=client_id, **connection_options(settings, principal), **options
    )
    idle_when_nothing_is_pending(producer)
    return producer


def idle_when_nothing_is_pending(producer: KafkaProducer) -> None:
    """Leave a partition whose leader is unknown alone while nothing waits to go to it.

    kafka-python's accumulator (3.0.12) keeps a queue for every partition ever written to,
    and reports an unknown leader for one even when its queue is empty. Once such a topic is
    deleted, or the producer's grant on it revoked, the sender asks for metadata again and
    again from its next metadata refresh on, with nothing to send: a whole core for as long
    as the producer lives (found on a registry whose grant a benchmark removed;
    tests/kafka/test_idle_producer.py). Kafka's Java producer looks only at partitions
    holding a batch; the accumulator's answer is corrected to that."""
    accumulator = getattr(producer, "_accumulator", None)
    queues = getattr(accumulator, "_batches", None)
    if accumulator is None or not isinstance(queues, dict):
        return  # a kafka-python that changed: as it is
    ready = accumulator.ready

    def ready_with_pending_only(cluster: Any, now: float | None = None) -> Any:
        nodes, next_check, unknown_leaders = ready(cluster, now=now)
        if unknown_leaders and not any(
            queues.get(tp) and cluster.leader_for_partition(tp) in (None, -1) for tp in list(queues)
        ):
            unknown_leaders = False
        return nodes, next_check, unknown_leaders

    accumulator.ready = ready_with_pending_only


ABANDON_MARGIN_SECONDS = 30.0  # past an abandoned producer's delivery timeout


def abandon(producer: KafkaProducer) -> None:
    """Close a producer given up on (a send failed or hung) without waiting for it.

    kafka-python's `close(timeout=0)` (3.0.12) flushes first, raises while batches are
    pending, and leaves the producer's threads running for good, retrying batches nobody
    waits for (a leak per producer replaced, found in the node-loss test). Here it is closed
    in a daemon thread once its batches are done: each fails within its delivery timeout.
    Should its flush still not end by then (close raises before it stops anything), its
    sender thread is stopped all the same: kafka-python offers no public call for that."""
    wait = producer.config["delivery_timeout_ms"] / 1000 + ABANDON_MARGIN_SECONDS

    def close() -> None:
        try:
            producer.close(timeout=wait)
        except Exception as exc:
            log.warning("closing an abandoned producer: %s; stopping its sender", exc)
            sender = getattr(producer, "_sender", None)
            if sender is not None:
                sender.force_close()

    threading.Thread(target=close, name="casebus-abandoned-producer", daemon=True).start()


def make_consumer(
    settings: Settings, group_id: str | None, client_id: str, *, principal: str, **overrides: Any
) -> KafkaConsumer:
    options = {**CONSUMER_DEFAULTS, **overrides}
    consumer = KafkaConsumer(
        group_id=group_id,
        client_id=client_id,
        **connection_options(settings, principal),
        **options,
    )
    if group_id is not None:
        patient_coordinator_lookup(consumer)
    return consumer


# Until idle (`--until-idle`, tests, the demo) an empty poll is where the end is checked:
# waiting out a whole poll timeout for records that are not coming only delays the answer.
IDLE_PROBE_MS = 100


def poll_timeout_ms(configured: int, *, until_idle: bool) -> int:
    """How long a poll may wait for records: the configured time, shorter until idle."""
    return min(configured, IDLE_PROBE_MS) if until_idle else configured


def patient_coordinator_lookup(consumer: KafkaConsumer) -> None:
    """Back off while the group coordinator's node is unreachable, as Kafka's Java client does.

    When the coordinator's node dies, the brokers keep naming it until the controller fences
    it; kafka-python (3.0.12) takes that answer, finds the node in reconnect backoff, marks
    the coordinator dead and asks again at once: thousands of lookups and warnings a second,
    up to 0.4 of a core. Here an answer naming a node in reconnect backoff counts as
    "coordinator not available", a retriable error the client waits `retry_backoff_ms` on
    before asking again; the node is tried again once its reconnect backoff (exponential,
    up to `reconnect_backoff_max_ms`) ends."""
    coordinator = consumer._coordinator
    client = coordinator._client
    take = coordinator._handle_find_coordinator_response
    warned = _Every(10.0)

    def unreachable(node: Any) -> bool:
        return bool(client.is_disconnected(node) and client.connection_delay(node) > 0)

    def handle(response: Any) -> Any:
        result = response.coordinators[0] if getattr(response, "coordinators", None) else response
        node = getattr(result, "node_id", None)
        found = result.error_code == 0 and node is not None and node >= 0
        # The coordinator gets a connection of its own ("coordinator-<node>"): either in
        # reconnect backoff means the node cannot be reached now.
        if found and (unreachable(node) or unreachable(f"coordinator-{node}")):
            if warned.due():
                log.warning(
                    "group %s: its coordinator, node %s, is unreachable; asking again with "
                    "backoff until another node takes over",
                    coordinator.group_id,
                    node,
                )
            raise CoordinatorNotAvailableError(f"coordinator node {node} unreachable")
        return take(response)

    coordinator._handle_find_coordinator_response = handle


class _Every:
    """True at most once per `seconds` (a log line per interval, not per retry)."""

    def __init__(self, seconds: float) -> None:
        self._seconds, self._next = seconds, 0.0

    def due(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self._seconds
        return True


def make_admin(
    settings: Settings, client_id: str = "casebus-admin", *, principal: str
) -> KafkaAdminClient:
    return KafkaAdminClient(client_id=client_id, **connection_options(settings, principal))


def make_super_admin(settings: Settings, client_id: str = "casebus-admin") -> KafkaAdminClient:
    """An admin client as the super user: topics, credentials, ACLs."""
    return make_admin(settings, client_id, principal=settings.kafka.security.admin)
