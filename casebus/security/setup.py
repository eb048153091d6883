"""Securing a cluster from config: the local broker's material, credentials and ACLs."""

from __future__ import annotations

from dataclasses import dataclass

from casebus.config import Settings
from casebus.kafka.broker import BrokerSecurity, LocalKafka
from casebus.kafka.clients import make_super_admin
from casebus.security import acls
from casebus.security.secrets import SecretStore
from casebus.security.tls import TlsFiles
from casebus.security.users import ensure_users


def broker_security(settings: Settings) -> BrokerSecurity:
    security = settings.kafka.security
    return BrokerSecurity(
        secrets=SecretStore(settings.secrets_dir),
        tls=TlsFiles(settings.ca_file.parent),
        admin=security.admin,
        mechanism=security.mechanism,
        enabled=security.protocol != "PLAINTEXT",
    )


def local_kafka(settings: Settings) -> LocalKafka:
    return LocalKafka(settings.kafka_state_dir, settings.kafka.local, broker_security(settings))


@dataclass(frozen=True)
class Secured:
    users: tuple[str, ...]
    change: acls.AclChange


def secure_cluster(settings: Settings, *, generate: bool) -> Secured:
    """Every principal's SCRAM credential (generate: secrets made where missing, for the
    local broker), then the cluster's ACLs made exactly what config implies."""
    client = make_super_admin(settings)
    try:
        users = ensure_users(client, settings, generate=generate)
        change = acls.apply(client, settings)
    finally:
        client.close()
    return Secured(tuple(users), change)
