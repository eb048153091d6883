"""The ACL plan as a pure function of config: the least each principal needs."""

from __future__ import annotations

import pytest

from casebus.config import load_settings
from casebus.security import acls
from casebus.security import principals as p

pytestmark = pytest.mark.offline

SHARED = {"casebus.penalty", "casebus.lead", "casebus.action"}


@pytest.fixture(scope="module")
def plan() -> frozenset[acls.Grant]:
    return acls.plan(load_settings())


def of(plan: frozenset[acls.Grant], principal: str) -> set[tuple[str, str, str, str]]:
    return {(g.operation, g.resource, g.name, g.pattern) for g in plan if g.principal == principal}


def test_a_platform_reads_its_own_feed_and_groups_and_nothing_else(plan: frozenset) -> None:
    assert of(plan, p.platform("jd")) == {
        ("read", "topic", "casebus.feed.jd.leads", "literal"),
        ("read", "group", "casebus.feed.jd.", "prefixed"),
    }


def test_only_the_feeds_service_writes_feeds(plan: frozenset) -> None:
    writers = {g.principal for g in plan if g.operation == "write" and ".feed." in g.name}
    assert writers == {p.FEEDS}


def test_syncs_read_their_subscriptions_and_write_only_their_dlq_and_heads(
    plan: frozenset,
) -> None:
    settings = load_settings()
    for sub in settings.sync.subscriptions:
        grants = of(plan, p.sync(sub.agency))
        reads = {name for op, kind, name, _ in grants if op == "read" and kind == "topic"}
        assert reads == set(sub.topics)
        writes = {(name, pattern) for op, _, name, pattern in grants if op == "write"}
        assert writes == {
            (f"casebus.dlq.sync.{sub.agency}", "prefixed"),
            ("casebus.audit", "literal"),  # its chain heads (pipeline/heads.py)
        }


def test_connectors_and_ingest_write_the_shared_topics_and_read_nothing(plan: frozenset) -> None:
    for principal in (p.connector("510500-PSB"), p.connector("PLATFORM-JD"), p.INGEST):
        grants = of(plan, principal)
        assert {name for op, kind, name, _ in grants if kind == "topic"} == SHARED | {
            "casebus.rejects"
        }
        assert not any(op == "read" for op, *_ in grants)


def test_replay_writes_nothing_but_dlqs_and_heads(plan: frozenset) -> None:
    writes = {
        (g.name, g.pattern) for g in plan if g.principal == p.REPLAY and g.operation != "read"
    }
    assert {name for name, _ in writes if not name.startswith("casebus.dlq.")} == {
        "casebus.",  # describe groups
        "kafka-cluster",  # describe the cluster
        "casebus.audit",  # the head of a database it rebuilt or repaired
    }


def test_nobody_but_the_super_user_alters_anything(plan: frozenset) -> None:
    assert {g.operation for g in plan} <= {"read", "write", "create", "describe"}
    assert not any(g.principal == p.admin(load_settings()) for g in plan)
    creators = {g.name for g in plan if g.operation == "create"}
    assert not creators & SHARED  # shared topics come from `casebus topics ensure` alone


def test_the_plan_follows_renamed_sync_topics_groups_and_dlqs() -> None:
    settings = load_settings()
    renamed = settings.model_copy(
        update={
            "sync": settings.sync.model_copy(
                update={
                    "topics": ("casebus.lead=t.lead", "casebus.penalty=t.penalty"),
                    "group_id": "g.test",
                    "dlq_topic": "dlq.test",
                }
            )
        }
    )
    grants = of(acls.plan(renamed), p.sync("510500-SAMR"))
    assert ("read", "topic", "t.lead", "literal") in grants
    assert ("read", "group", "g.test", "literal") in grants
    assert ("write", "topic", "dlq.test", "literal") in grants


def test_matching_follows_kafka_patterns() -> None:
    patterns = (("casebus.feed.jd.leads", "literal"), ("casebus.dlq.", "prefixed"))
    assert acls.matches(patterns, "casebus.feed.jd.leads")
    assert not acls.matches(patterns, "casebus.feed.jd.leads2")
    assert acls.matches(patterns, "casebus.dlq.sync.x")
    assert acls.matches((("*", "literal"),), "anything")


def test_nobody_is_granted_read_on_a_dlq_only_the_admin_reads_one(plan: frozenset) -> None:
    settings = load_settings()
    dlqs = [settings.sync.dlq_for(s.agency) for s in settings.sync.subscriptions]
    dlqs.append(settings.feeds.dlq_topic)
    readers = {
        g.principal
        for g in plan
        if g.resource == "topic"
        and g.operation == "read"
        and any(acls.matches([(g.name, g.pattern)], dlq) for dlq in dlqs)
    }
    assert readers == set()  # the super user (`casebus dlq show|redrive`) needs no grant
    # `casebus status` still sees each DLQ's depth.
    assert ("describe", "topic", "casebus.dlq.", "prefixed") in of(plan, p.REPLAY)
    # A redrive joins no consumer group: no group is granted for it.
    assert not any(g.resource == "group" and "redrive" in g.name for g in plan)
