"""MirrorMaker 2's configuration, written from ours (dedicated mode, one file for the link).

Each region runs its own MirrorMaker 2 node (`casebus --region R mirror run`, MirrorMaker's
`--clusters R`): it pulls the other regions' shared topics into R's cluster, so a region
whose link is down keeps everything it has and catches up when the link returns. What the
file says, and why:

- every cluster is reached as the `mirror` principal, SASL_SSL with SCRAM like every client,
  trusting the cluster's CA; its ACLs allow reading the shared topics at the source and
  writing the copies and MirrorMaker's own topics at the target (casebus/security/acls.py);
- the source consumer reads `read_committed` (ingest and the feeds write in transactions),
  and with exactly-once source delivery (KIP-618) a copy and its source offset are
  committed in one transaction: a killed MirrorMaker copies nothing twice;
- the copies keep key, value bytes and headers (ByteArrayConverter) under the name
  `<alias>.<topic>` (DefaultReplicationPolicy), so signatures stay valid;
- only what is shared crosses: a Filter drops every record without the header
  `casebus.share.<target region>` (casebus/regions.py); the primary registry writes that
  header on its own records, so `_schemas` crosses too. (Marking records on the way with
  Connect's InsertHeader is not an option: MirrorMaker 2 writes headers with the
  ByteArrayConverter, which refuses the string header InsertHeader makes.) A flow's
  transforms apply to its heartbeats too, so there are none: the link's state is read from
  the Connect offsets MirrorMaker commits (services/mirror/link.py);
- no consumer-group checkpoints: the syncs keep their offsets in their own databases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from casebus.config import KafkaSettings, Region, Settings
from casebus.kafka.connect import render_properties
from casebus.regions import share_header
from casebus.security.principals import MIRROR
from casebus.topics import SHARED_TOPICS, TopicNames

TRANSFORMS = "org.apache.kafka.connect.transforms"
# Offsets, configs and status of the Connect workers, on the target (named after the source).
CONNECT_TOPICS = (
    "mm2-offsets.{src}.internal",
    "mm2-configs.{src}.internal",
    "mm2-status.{src}.internal",
)


def cluster_alias(region: Region) -> str:
    assert region.cluster is not None
    return region.cluster.alias


def worker_group(source_alias: str) -> str:
    """The Connect group MirrorMaker 2 runs the flow from `source_alias` in (its default)."""
    return f"{source_alias}-mm2"


def shared_topic_names(settings: Settings) -> list[str]:
    """The shared topics under the names this deployment gives them (the same on each side)."""
    renames = settings.sync.topic_names() or TopicNames({})
    return TopicNames.same(SHARED_TOPICS).renamed(renames).actual_names()


def registry_topic(settings: Settings) -> str:
    """The primary registry's topic, under its own name."""
    registry = settings.registry
    return (
        registry.topic.removeprefix(f"{registry.follows}.") if registry.follows else registry.topic
    )


def replicas(kafka: KafkaSettings) -> int:
    if kafka.replication_factor:
        return kafka.replication_factor
    return min(3, kafka.local.node_count) if kafka.uses_local_broker else 3


def _pattern(names: Iterable[str]) -> str:
    return "|".join(name.replace(".", "\\.") for name in names)


def mirror_properties(
    settings: Settings, secret: Callable[[Region], str], ca_file: Callable[[Region], str]
) -> dict[str, str]:
    """The link's whole configuration (`secret`: the mirror principal's, per cluster)."""
    regions = [r for r in settings.regions if r.cluster is not None]
    props: dict[str, str] = {"clusters": ", ".join(cluster_alias(r) for r in regions)}
    for region in regions:
        props.update(_cluster(region, secret(region), ca_file(region)))
    topics = shared_topic_names(settings)
    schemas = registry_topic(settings)
    for src in regions:
        for tgt in regions:
            if src is not tgt:
                props.update(_flow(src, tgt, topics, schemas))
    props.update(
        {
            # No group's offsets are translated (the syncs keep theirs in their databases):
            # the checkpoint connector runs over no group (disabled, it logs an error).
            "groups": "casebus\\.no-group",
            "sync.group.offsets.enabled": "false",
            "plugin.discovery": "service_load",
            "sync.topic.acls.enabled": "false",
            # The copies keep the source topics' settings (retention: forever).
            "sync.topic.configs.enabled": "true",
            # Offset syncs on the target: the mirror writes nothing at the source.
            "offset-syncs.topic.location": "target",
            "emit.heartbeats.enabled": "false",
            "refresh.topics.interval.seconds": "10",
            "offset.flush.interval.ms": "2000",
            "tasks.max": "2",
            "key.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
            "value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
            "header.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
        }
    )
    return props


def _cluster(region: Region, secret: str, ca_file: str) -> dict[str, str]:
    assert region.cluster is not None
    kafka = region.cluster.kafka
    alias = region.cluster.alias
    security = kafka.security
    props = {
        f"{alias}.bootstrap.servers": kafka.bootstrap_servers,
        f"{alias}.security.protocol": security.protocol,
        # Exactly-once source delivery into this cluster: copy and offset in one transaction.
        f"{alias}.exactly.once.source.support": "enabled",
        f"{alias}.consumer.isolation.level": "read_committed",
        f"{alias}.config.storage.replication.factor": str(replicas(kafka)),
        f"{alias}.offset.storage.replication.factor": str(replicas(kafka)),
        f"{alias}.status.storage.replication.factor": str(replicas(kafka)),
    }
    if security.sasl:
        props[f"{alias}.sasl.mechanism"] = security.mechanism
        props[f"{alias}.sasl.jaas.config"] = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{MIRROR}" password="{secret}";'
        )
    if security.tls:
        props[f"{alias}.ssl.truststore.type"] = "PEM"
        props[f"{alias}.ssl.truststore.location"] = ca_file
    return props


def _flow(src: Region, tgt: Region, topics: list[str], schemas: str) -> dict[str, str]:
    assert src.cluster is not None and tgt.cluster is not None
    flow = f"{src.cluster.alias}->{tgt.cluster.alias}"
    crossing = [*topics] + ([schemas] if src.cluster.primary_registry else [])
    rf = str(replicas(tgt.cluster.kafka))
    return {
        f"{flow}.enabled": "true",
        f"{flow}.topics": _pattern(crossing),
        f"{flow}.replication.factor": rf,
        f"{flow}.offset-syncs.topic.replication.factor": rf,
        f"{flow}.heartbeats.topic.replication.factor": rf,
        f"{flow}.checkpoints.topic.replication.factor": rf,
        f"{flow}.transforms": "shared",
        f"{flow}.transforms.shared.type": f"{TRANSFORMS}.Filter",
        f"{flow}.transforms.shared.predicate": "shared",
        f"{flow}.transforms.shared.negate": "true",
        f"{flow}.predicates": "shared",
        f"{flow}.predicates.shared.type": f"{TRANSFORMS}.predicates.HasHeaderKey",
        f"{flow}.predicates.shared.name": share_header(tgt.code),
    }


HEADER = "Written by `casebus mirror run` from config: do not edit, edit config."


def render(props: dict[str, str], *, hide: Iterable[str] = ()) -> str:
    """As a .properties file (values containing a secret in `hide` masked)."""
    return render_properties(props, header=HEADER, hide=hide)
