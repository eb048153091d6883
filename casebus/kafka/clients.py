"""Kafka clients built from settings, with the delivery guarantees DESIGN.md asks for.

Producers: acks=all, idempotence, retries. Consumers: auto-commit off (offsets are stored
where the results are written), read_committed. Callers may override any option.

Every client authenticates as a principal (casebus/security/principals.py): the one whose
job the calling process does, so the broker's ACLs decide what it may touch.
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from casebus.config import Settings
from casebus.security.secrets import SecretStore

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


def connection_options(settings: Settings, principal: str) -> dict[str, Any]:
    """bootstrap, protocol, CA and SASL credentials for a kafka-python client."""
    security = settings.kafka.security
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka.bootstrap_servers,
        "security_protocol": security.protocol,
    }
    if security.tls:
        options["ssl_cafile"] = str(settings.ca_file)
    if security.sasl:
        options["sasl_mechanism"] = security.mechanism
        options["sasl_plain_username"] = principal
        options["sasl_plain_password"] = SecretStore(settings.secrets_dir).get(principal)
    return options


def make_producer(
    settings: Settings, client_id: str, *, principal: str, **overrides: Any
) -> KafkaProducer:
    options = {**PRODUCER_DEFAULTS, **overrides}
    return KafkaProducer(client_id=client_id, **connection_options(settings, principal), **options)


def make_consumer(
    settings: Settings, group_id: str | None, client_id: str, *, principal: str, **overrides: Any
) -> KafkaConsumer:
    options = {**CONSUMER_DEFAULTS, **overrides}
    return KafkaConsumer(
        group_id=group_id,
        client_id=client_id,
        **connection_options(settings, principal),
        **options,
    )


def make_admin(
    settings: Settings, client_id: str = "casebus-admin", *, principal: str
) -> KafkaAdminClient:
    return KafkaAdminClient(client_id=client_id, **connection_options(settings, principal))
