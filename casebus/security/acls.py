"""The ACLs config implies: the least each principal needs, and nothing for anyone else.

`plan(settings)` is a pure function of config; `apply` diffs it against the cluster, adds
what is missing and removes what config no longer grants (ACLs added by hand included), so
running it twice changes nothing the second time. The broker denies what no ACL allows
(`allow.everyone.if.no.acl.found=false`); the super user needs none.

Kafka implies DESCRIBE from READ and WRITE, and idempotent writes from WRITE on a topic, so
the plan lists only the operations a job performs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
)

from casebus import names
from casebus.config import Settings
from casebus.security import principals as p
from casebus.topics import REJECTS_TOPIC, SHARED_TOPICS, TopicNames

Resource = Literal["topic", "group", "transactional-id", "cluster"]
Pattern = Literal["literal", "prefixed"]
Operation = Literal["read", "write", "create", "describe", "describe-configs", "alter-configs"]

_RESOURCE = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
    "transactional-id": ResourceType.TRANSACTIONAL_ID,
    "cluster": ResourceType.CLUSTER,
}
_PATTERN = {"literal": ACLResourcePatternType.LITERAL, "prefixed": ACLResourcePatternType.PREFIXED}
_OPERATION = {
    "read": ACLOperation.READ,
    "write": ACLOperation.WRITE,
    "create": ACLOperation.CREATE,
    "describe": ACLOperation.DESCRIBE,
    "describe-configs": ACLOperation.DESCRIBE_CONFIGS,
    "alter-configs": ACLOperation.ALTER_CONFIGS,
}


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW ACL, from any host."""

    principal: str  # the user name, without "User:"
    resource: Resource
    name: str
    operation: Operation
    pattern: Pattern = "literal"

    def describe(self) -> str:
        star = "*" if self.pattern == "prefixed" else ""
        return f"User:{self.principal} {self.operation} {self.resource} {self.name}{star}"

    def acl(self) -> ACL:
        return ACL(
            principal=f"User:{self.principal}",
            host="*",
            operation=_OPERATION[self.operation],
            permission_type=ACLPermissionType.ALLOW,
            resource_pattern=ResourcePattern(
                _RESOURCE[self.resource], self.name, _PATTERN[self.pattern]
            ),
        )


def plan(settings: Settings) -> frozenset[Grant]:
    grants: set[Grant] = set()

    def add(
        principal: str, resource: Resource, name: str, *ops: Operation, prefixed: bool = False
    ) -> None:
        pattern: Pattern = "prefixed" if prefixed else "literal"
        grants.update(Grant(principal, resource, name, op, pattern) for op in ops)

    publish = (*SHARED_TOPICS, REJECTS_TOPIC)
    for owner in sorted({c.owner for c in settings.connectors}):
        for topic in publish:
            add(p.connector(owner), "topic", topic, "write")
    for topic in publish:
        add(p.INGEST, "topic", topic, "write")
    add(p.INGEST, "transactional-id", names.INGEST_TXN_PREFIX, "write", prefixed=True)

    renames = settings.sync.topic_names() or TopicNames({})
    for sub in settings.sync.subscriptions:
        name = p.sync(sub.agency)
        # In a two-region deployment, the other regions' copies too.
        read = TopicNames.same(sub.topics).renamed(renames).with_copies(settings.sync.copy_prefixes)
        for topic in read.actual_names():
            add(name, "topic", topic, "read")
        # Its own group and DLQ, and any name below them; or exactly the ones config names.
        group, dlq = settings.sync.group_id, settings.sync.dlq_topic
        add(name, "group", group or names.sync_group(sub.agency), "read", prefixed=not group)
        add(name, "topic", dlq or names.sync_dlq(sub.agency), "write", "create", prefixed=not dlq)
        add(name, "topic", settings.provenance.audit_topic, "write")  # its chain heads

    fs = settings.feeds
    add(p.FEEDS, "topic", fs.source_topic, "read")
    add(p.FEEDS, "group", fs.group_id, "read")
    add(p.FEEDS, "topic", fs.state_topic, "read", "write", "create")
    add(p.FEEDS, "topic", fs.dlq_topic, "write", "create")
    if fs.transactions:
        add(p.FEEDS, "transactional-id", fs.transactional_id, "write")
    for platform in settings.platforms:
        feed = fs.feed_topic(platform)
        add(p.FEEDS, "topic", feed, "write", "create")
        add(p.platform(platform.feed_name), "topic", feed, "read")
        add(
            p.platform(platform.feed_name),
            "group",
            names.platform_group_prefix(platform.feed_name),
            "read",
            prefixed=True,
        )

    if settings.registry.follows:  # the primary's schemas, as the link copies them
        add(p.REGISTRY, "topic", settings.registry.topic, "read", "describe")
    else:
        add(p.REGISTRY, "topic", settings.registry.topic, "read", "write", "create")
    # A platform reads the subjects of the topics it may read: the registry asks the ACLs.
    add(p.REGISTRY, "cluster", "kafka-cluster", "describe")

    # Replay and `casebus status`: read every topic but the DLQs, describe every group.
    dlqs = {fs.dlq_topic, *(settings.sync.dlq_for(s.agency) for s in settings.sync.subscriptions)}
    for spec in settings.topics:
        if spec.name in dlqs or spec.name.startswith(names.DLQ_PREFIX):
            add(p.REPLAY, "topic", spec.name, "describe")
        else:
            add(p.REPLAY, "topic", spec.name, "read")
    # A DLQ's depth (its offsets), not its records: reading a DLQ (`casebus dlq show`, the
    # console's counts by reason) and redriving it are the admin's alone, who needs no ACL.
    # Nobody else is granted read on a DLQ, and a redrive joins no group (it assigns
    # partitions), so there is no redrive group to grant.
    add(p.REPLAY, "topic", names.DLQ_PREFIX, "describe", prefixed=True)
    # What a replay cannot decode goes to the agency's sync DLQ, as it would in sync.
    add(p.REPLAY, "topic", names.SYNC_DLQ_PREFIX, "write", "create", prefixed=True)
    # The chain head of a database it rebuilt or repaired (pipeline/heads.py).
    add(p.REPLAY, "topic", settings.provenance.audit_topic, "read", "write")
    add(p.REPLAY, "group", names.GROUP_PREFIX, "describe", prefixed=True)
    add(p.REPLAY, "cluster", "kafka-cluster", "describe")
    for region in settings.other_regions:  # the other regions' copies, and the link's state
        alias = settings.cluster_of(region).alias
        add(p.REPLAY, "topic", f"{alias}.", "read", prefixed=True)
        add(p.REPLAY, "topic", f"mm2-offsets.{alias}.internal", "read")
        add(p.REPLAY, "group", f"{alias}-mm2", "describe")
    _mirror(settings, add)
    return frozenset(grants)


class _Add(Protocol):
    def __call__(
        self, principal: str, resource: Resource, name: str, *ops: Operation, prefixed: bool = ...
    ) -> None: ...


def _mirror(settings: Settings, add: _Add) -> None:
    """MirrorMaker 2 (services/mirror/), on the cluster of the region the plan is applied in:
    as a source, it reads the shared topics (and the primary's `_schemas`, and heartbeats);
    as the target of each other region's flow, it writes that region's copies and the
    Connect worker's own topics, group and transactions (exactly-once source delivery)."""
    home = settings.home
    if home is None:
        return
    m = p.MIRROR
    renames = settings.sync.topic_names() or TopicNames({})
    sources = TopicNames.same(SHARED_TOPICS).renamed(renames).actual_names()
    if home.cluster is not None and home.cluster.primary_registry:
        sources.append(settings.registry.topic)
    for topic in sources:
        add(m, "topic", topic, "read", "describe", "describe-configs")
    add(m, "cluster", "kafka-cluster", "describe", "describe-configs")
    for region in settings.other_regions:
        alias = settings.cluster_of(region).alias
        everything: tuple[Operation, ...] = (
            "read",
            "write",
            "create",
            "describe",
            "describe-configs",
            "alter-configs",
        )
        add(m, "topic", f"{alias}.", *everything, prefixed=True)  # the copies
        add(m, "topic", f"mm2-offsets.{alias}.", *everything, prefixed=True)
        add(m, "topic", f"mm2-configs.{alias}.", *everything, prefixed=True)
        add(m, "topic", f"mm2-status.{alias}.", *everything, prefixed=True)
        add(m, "group", f"{alias}-mm2", "read", "describe", prefixed=True)
        add(m, "transactional-id", f"{alias}-mm2", "write", "describe", prefixed=True)
        add(
            m,
            "transactional-id",
            f"connect-cluster-{alias}-mm2",
            "write",
            "describe",
            prefixed=True,
        )
    add(m, "topic", "mm2-offset-syncs.", "read", "write", "create", "describe", prefixed=True)


def renamed(grants: Iterable[Grant], resource: Resource, name: str, to: str) -> set[Grant]:
    """The grants on one resource, re-issued for another name (a topic that stands in for
    it: tests and benchmarks isolate their topics this way)."""
    return {
        Grant(g.principal, g.resource, to, g.operation, "literal")
        for g in grants
        if g.resource == resource and g.name == name and g.pattern == "literal"
    }


# -- the cluster ------------------------------------------------------------------------------


class AclError(Exception):
    """The cluster refused to list or change ACLs; the message says which and why."""


@dataclass(frozen=True)
class Held:
    """What the cluster holds: ALLOW ACLs of the kinds config grants, and everything else
    (DENY, a host, another operation or resource type), which apply removes too."""

    grants: frozenset[Grant]
    foreign: tuple[ACL, ...] = ()


def current(admin: KafkaAdminClient) -> Held:
    everything = ACLFilter(
        principal=None,
        host=None,
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )
    acls, error = admin.describe_acls(everything)
    if getattr(error, "errno", 0):
        raise AclError(f"listing ACLs failed: {error.__name__}")
    resources: dict[int, Resource] = {v: k for k, v in _RESOURCE.items()}  # type: ignore[misc]
    patterns: dict[int, Pattern] = {v: k for k, v in _PATTERN.items()}  # type: ignore[misc]
    operations: dict[int, Operation] = {v: k for k, v in _OPERATION.items()}  # type: ignore[misc]
    grants: set[Grant] = set()
    foreign: list[ACL] = []
    for acl in acls:
        rp = acl.resource_pattern
        known = (
            acl.permission_type == ACLPermissionType.ALLOW
            and acl.host == "*"
            and acl.principal.startswith("User:")
            and rp.resource_type in resources
            and rp.pattern_type in patterns
            and acl.operation in operations
        )
        if not known:
            foreign.append(acl)
            continue
        grants.add(
            Grant(
                acl.principal.removeprefix("User:"),
                resources[rp.resource_type],
                rp.resource_name,
                operations[acl.operation],
                patterns[rp.pattern_type],
            )
        )
    return Held(frozenset(grants), tuple(foreign))


def describe_acl(acl: ACL) -> str:
    rp = acl.resource_pattern
    star = "*" if rp.pattern_type == ACLResourcePatternType.PREFIXED else ""
    return (
        f"{acl.principal} {acl.permission_type.name.lower()} {acl.operation.name.lower()} "
        f"{rp.resource_type.name.lower()} {rp.resource_name}{star} from {acl.host}"
    )


@dataclass(frozen=True)
class AclChange:
    added: tuple[Grant, ...]
    removed: tuple[Grant, ...]
    foreign: tuple[ACL, ...] = ()  # removed too: kinds config never grants

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.foreign)

    def lines(self) -> list[str]:
        return (
            [f"+ {g.describe()}" for g in self.added]
            + [f"- {g.describe()}" for g in self.removed]
            + [f"- {describe_acl(a)}" for a in self.foreign]
        )


def diff(planned: frozenset[Grant], held: Held) -> AclChange:
    return AclChange(
        tuple(sorted(planned - held.grants)), tuple(sorted(held.grants - planned)), held.foreign
    )


def apply(admin: KafkaAdminClient, settings: Settings, *, dry_run: bool = False) -> AclChange:
    """Make the cluster's ACLs exactly the plan; return what changed (or would)."""
    change = diff(plan(settings), current(admin))
    if not dry_run:
        add(admin, change.added)
        _delete(admin, [g.acl() for g in change.removed] + list(change.foreign))
    return change


def add(admin: KafkaAdminClient, grants: Iterable[Grant]) -> None:
    acls = [g.acl() for g in grants]
    if not acls:
        return
    result = admin.create_acls(acls)
    failed = result.get("failed", [])
    if failed:
        raise AclError("creating ACLs failed: " + "; ".join(f.__name__ for f in failed))


def remove(admin: KafkaAdminClient, grants: Iterable[Grant]) -> None:
    """Revoke these grants (those the cluster does not hold are left as they are)."""
    _delete(admin, [g.acl() for g in grants])


def _delete(admin: KafkaAdminClient, acls: list[ACL]) -> None:
    if not acls:
        return
    for _filter, _matched, error in admin.delete_acls(acls):
        if getattr(error, "errno", 0):
            raise AclError(f"deleting ACLs failed: {error.__name__}")


def readable_topics(admin: KafkaAdminClient, principal: str) -> tuple[tuple[str, Pattern], ...]:
    """The topic patterns a principal may read, as the cluster holds them."""
    wanted = ACLFilter(
        principal=f"User:{principal}",
        host=None,
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ALLOW,
        resource_pattern=ResourcePatternFilter(
            ResourceType.TOPIC, None, ACLResourcePatternType.ANY
        ),
    )
    found, error = admin.describe_acls(wanted)
    if getattr(error, "errno", 0):
        raise AclError(f"listing ACLs failed: {error.__name__}")
    reads = (ACLOperation.READ, ACLOperation.ALL)
    return tuple(
        (
            acl.resource_pattern.resource_name,
            "prefixed"
            if acl.resource_pattern.pattern_type == ACLResourcePatternType.PREFIXED
            else "literal",
        )
        for acl in found
        if acl.operation in reads
    )


def matches(patterns: Iterable[tuple[str, Pattern]], topic: str) -> bool:
    """Whether a topic falls under any of the patterns (Kafka's literal, `*` and prefix)."""
    return any(
        topic.startswith(name) if pattern == "prefixed" else name in (topic, "*")
        for name, pattern in patterns
    )
