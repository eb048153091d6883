"""Helpers of the feed tests: settings for a test's own topics, crafted lead events, readers."""

from __future__ import annotations

import copy
import uuid
from collections import defaultdict
from typing import Any

from kafka import TopicPartition

from casebus.config import Settings
from casebus.contracts.samples import sample_lead_event
from casebus.events import Event, EventType, stable_event_id
from casebus.kafka.clients import make_consumer
from casebus.security.principals import admin
from tests.fixtures.kafka import grant_plan

INFORMANT_NAME = "举报人王秀英"
INFORMANT_ID = "510502198703150045"  # a valid GB 11643 number
SELLER_ID = "510521199204180032"
POLICE_TEXT = "公安专用：涉嫌生产销售伪劣产品罪线索"

HOSTS = {
    "PLATFORM-JD": "item.jd.com",
    "PLATFORM-ALIBABA": "item.taobao.com",
    "PLATFORM-DOUYIN": "haohuo.jinritemai.com",
}


def feed_settings(settings: Settings, *, source_topic: str, registry_url: str) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    feeds = settings.feeds.model_copy(
        update={
            "source_topic": source_topic,
            "topic_prefix": f"t{suffix}.feed.",
            "state_topic": f"t{suffix}.feeds.state",
            "dlq_topic": f"t{suffix}.dlq.feeds",
            "group_id": f"t{suffix}.feeds",
            "transactional_id": f"t{suffix}.feeds",
        }
    )
    registry = settings.registry.model_copy(update={"url": registry_url})
    own = settings.model_copy(update={"feeds": feeds, "registry": registry})
    grant_plan(own)  # the ACLs of this test's feed topics, state, DLQ, group, transactions
    return own


def agency_lead(
    record_id: str,
    revision: int = 1,
    *,
    handling: str = "H1",
    shared_with: tuple[str, ...] = ("510500", "PLATFORM-JD"),
    platform: str | None = "PLATFORM-JD",
    status: str = "VERIFYING",
    informant: bool = False,
    description: str | None = None,
    case_id: str | None = None,
) -> Event:
    """A Luzhou market-supervision lead about a listing on `platform`."""
    event = copy.deepcopy(sample_lead_event())
    event_type = EventType.LEAD_REPORTED if revision == 1 else EventType.LEAD_STATUS_CHANGED
    host = HOSTS.get(platform or "", "item.example-mall.cn")
    event.update(
        owner="510500-SAMR",
        record_id=record_id,
        revision=revision,
        event_type=event_type.value,
        case_id=case_id or f"CASE-510500-2025-{record_id}",
        region="510500",
        shared_with=list(shared_with),
        handling=handling,
        producer="connector.samr-luzhou",
        event_id=stable_event_id("510500-SAMR", record_id, revision, event_type),
    )
    lead = event["lead"]
    lead.update(
        lead_no=record_id,
        source="COMPLAINT",
        platform=platform,
        seller_id_no=SELLER_ID,
        shop_url=f"https://{host}/shop/{record_id}",
        items=[
            {
                "listing_url": f"https://{host}/{record_id}.html",
                "listing_id": record_id,
                "title": "泸州老窖 特曲 52度 500ml",
            }
        ],
        status=status,
        description=description or f"群众投诉线索{record_id}，第{revision}版。",
    )
    if informant:
        lead["informant"] = {
            "name": INFORMANT_NAME,
            "phone": "13800000000",
            "id_type": "ID_CARD",
            "id_no": INFORMANT_ID,
            "address": "泸州市江阳区某街道",
            "confidential": True,
        }
    return event


def read_all(settings: Settings, topic: str) -> list[Any]:
    """Every committed record of `topic`, to its end (read_committed)."""
    reader = make_consumer(settings, None, "test-feed-reader", principal=admin(settings))
    try:
        parts = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic))]
        reader.assign(parts)
        reader.seek_to_beginning(*parts)
        ends = reader.end_offsets(parts)
        out: list[Any] = []
        while any(reader.position(tp) < ends[tp] for tp in parts):
            for batch in reader.poll(timeout_ms=500).values():
                out.extend(batch)
        return out
    finally:
        reader.close()


def revisions_by_key(records: list[Any]) -> dict[str, list[int | None]]:
    """Per lead key, the revision header of each record in order (None for no header)."""
    out: dict[str, list[int | None]] = defaultdict(list)
    for r in records:
        found = dict(r.headers or []).get("casebus.revision")
        out[r.key.decode()].append(int(found) if found else None)
    return dict(out)
