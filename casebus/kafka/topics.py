"""Create the topics that config describes, with the environment's replication."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from casebus.config import Settings, TopicSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnsureResult:
    created: tuple[str, ...]
    existing: tuple[str, ...]


def topic_config(settings: Settings, spec: TopicSpec) -> dict[str, str]:
    config = {"min.insync.replicas": str(settings.kafka.min_insync_replicas)}
    config["unclean.leader.election.enable"] = "false"
    config.update(spec.config)
    return config


def ensure_topics(
    admin: KafkaAdminClient, settings: Settings, specs: tuple[TopicSpec, ...] | None = None
) -> EnsureResult:
    """Create missing topics; leave existing ones untouched (never shrink or reconfigure)."""
    specs = settings.topics if specs is None else specs
    existing = set(admin.list_topics())
    missing = [s for s in specs if s.name not in existing]
    created: list[str] = []
    for spec in missing:
        new = NewTopic(
            name=spec.name,
            num_partitions=spec.partitions,
            replication_factor=settings.kafka.replication_factor,
            topic_configs=topic_config(settings, spec),
        )
        try:
            admin.create_topics([new])
            created.append(spec.name)
            log.info("created topic %s (%d partitions)", spec.name, spec.partitions)
        except TopicAlreadyExistsError:
            pass  # another process won the race; same outcome
    return EnsureResult(
        created=tuple(created),
        existing=tuple(s.name for s in specs if s.name in existing),
    )
