"""Kafka clients built from settings, with the delivery guarantees DESIGN.md asks for.

Producers: acks=all, idempotence, retries. Consumers: auto-commit off (offsets are stored
where the results are written), read_committed. Callers may override any option.
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from casebus.config import Settings

PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "retries": 2**31 - 1,  # bounded by delivery_timeout_ms, not a count
    "max_in_flight_requests_per_connection": 5,  # idempotence keeps order up to 5
    "linger_ms": 5,
    "batch_size": 256 * 1024,
    "compression_type": "lz4",
    "delivery_timeout_ms": 120_000,
}

CONSUMER_DEFAULTS: dict[str, Any] = {
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "isolation_level": "read_committed",
    "max_poll_records": 2000,
}


def make_producer(settings: Settings, client_id: str, **overrides: Any) -> KafkaProducer:
    options = {**PRODUCER_DEFAULTS, **overrides}
    return KafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, client_id=client_id, **options
    )


def make_consumer(
    settings: Settings, group_id: str | None, client_id: str, **overrides: Any
) -> KafkaConsumer:
    options = {**CONSUMER_DEFAULTS, **overrides}
    return KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        group_id=group_id,
        client_id=client_id,
        **options,
    )


def make_admin(settings: Settings, client_id: str = "casebus-admin") -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers, client_id=client_id)
