"""Kafka clients built from settings, with the delivery guarantees DESIGN.md asks for.

Producers: acks=all, idempotence, retries. Consumers: auto-commit off (offsets are stored
where the results are written), read_committed. Callers may override any option.

Every client authenticates as a principal (casebus/security/principals.py): the one whose
job the calling process does, so the broker's ACLs decide what it may touch.
"""

from __future__ import annotations

from pathlib import Path
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
    # At most this much per fetch response (kafka-python's default is 50 MB): a consumer of
    # many partitions otherwise holds up to 1 MB of every partition it reads at once.
    "fetch_max_bytes": 4 * 1024 * 1024,
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


def make_super_admin(settings: Settings, client_id: str = "casebus-admin") -> KafkaAdminClient:
    """An admin client as the super user: topics, credentials, ACLs."""
    return make_admin(settings, client_id, principal=settings.kafka.security.admin)
