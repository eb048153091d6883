"""Create the topics that config describes, with the environment's replication."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import (
    BrokerNotAvailableError,
    KafkaError,
    TopicAlreadyExistsError,
    UnknownBrokerIdError,
)

from casebus.config import Settings, TopicSpec
from casebus.retry import Backoff

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnsureResult:
    created: tuple[str, ...]
    existing: tuple[str, ...]


@dataclass(frozen=True)
class Replication:
    factor: int
    min_insync: int


def replication(settings: Settings, admin: KafkaAdminClient) -> Replication:
    """What new topics get: as configured, else as many replicas as the cluster has nodes,
    up to three (the local cluster's configured nodes; an existing cluster's brokers), and
    `min.insync.replicas` 2 with three replicas (one node may be lost), else 1."""
    kafka = settings.kafka
    factor = kafka.replication_factor
    if not factor:
        if kafka.uses_local_broker:
            nodes = kafka.local.node_count
        else:
            brokers = admin.describe_cluster().get("brokers") or []
            nodes = max(1, len(brokers))
        factor = min(3, nodes)
    min_insync = kafka.min_insync_replicas or (2 if factor >= 3 else 1)
    return Replication(factor, min(min_insync, factor))


def topic_config(spec: TopicSpec, replicas: Replication) -> dict[str, str]:
    config = {"min.insync.replicas": str(replicas.min_insync)}
    config["unclean.leader.election.enable"] = "false"
    config.update(spec.config)
    return config


# How long a service starting while a node is lost keeps asking the others.
ENSURE_DEADLINE_SECONDS = 60.0
# Not retriable to kafka-python, but only a node gone: the next try asks another (a node
# killed, then dropped from the metadata while the admin client was about to ask it).
_NODE_GONE = (UnknownBrokerIdError, BrokerNotAvailableError)


def ensure_topics_when_ready(
    connect: Callable[[], KafkaAdminClient],
    settings: Settings,
    specs: tuple[TopicSpec, ...] | None = None,
) -> EnsureResult:
    """`ensure_topics` for a service's start, through a node's loss: a retriable error, or a
    node unknown, is tried again with backoff for up to ENSURE_DEADLINE_SECONDS, each time
    with a new admin client. (Measured on three nodes, one killed: kafka-python's admin
    client raised the refused connection, or the node's absence from newer metadata,
    instead of asking another node, and kept asking the node it took for the controller
    for as long as that node was down.)"""
    deadline = time.monotonic() + ENSURE_DEADLINE_SECONDS
    backoff = Backoff(5.0)
    while True:
        admin: KafkaAdminClient | None = None
        try:
            admin = connect()
            return ensure_topics(admin, settings, specs)
        except KafkaError as exc:
            gone = exc.retriable or isinstance(exc, _NODE_GONE)
            if not gone or time.monotonic() >= deadline:
                raise
            log.warning("topics not checked (%s); asking again", exc)
        finally:
            if admin is not None:
                admin.close()
        backoff.wait()


def ensure_topics(
    admin: KafkaAdminClient, settings: Settings, specs: tuple[TopicSpec, ...] | None = None
) -> EnsureResult:
    """Create missing topics; leave existing ones untouched (never shrink or reconfigure)."""
    specs = settings.topics if specs is None else specs
    existing = set(admin.list_topics())
    missing = [s for s in specs if s.name not in existing]
    created: list[str] = []
    replicas = replication(settings, admin) if missing else Replication(1, 1)
    for spec in missing:
        new = NewTopic(
            name=spec.name,
            num_partitions=spec.partitions,
            replication_factor=replicas.factor,
            topic_configs=topic_config(spec, replicas),
        )
        try:
            admin.create_topics([new])
            created.append(spec.name)
            log.info(
                "created topic %s (%d partitions, %d replicas)",
                spec.name,
                spec.partitions,
                replicas.factor,
            )
        except TopicAlreadyExistsError:
            pass  # another process won the race; same outcome
    return EnsureResult(
        created=tuple(created),
        existing=tuple(s.name for s in specs if s.name in existing),
    )
