"""What a platform currently sees: its feed read to the end, the last record per lead, the
retracted ones (tombstones) left out. For an agency admin checking a partner's complaint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition
from rich.console import Console
from rich.table import Table

from casebus.config import Platform, Settings
from casebus.kafka.clients import make_consumer
from casebus.records import canonical_json
from casebus.registry.client import registry_for
from casebus.security.principals import platform as platform_principal
from casebus.serde import AvroDeserializer, SerializationContext


@dataclass(frozen=True, slots=True)
class FeedView:
    platform: Platform
    topic: str
    leads: dict[str, dict[str, Any]]  # lead key -> the PartnerLead the platform holds
    retracted: tuple[str, ...]  # keys whose last record is a tombstone
    records: int  # feed records read (committed ones)


def read_feed(settings: Settings, platform: Platform, *, poll_ms: int = 500) -> FeedView:
    topic = settings.feeds.feed_topic(platform)
    # As the platform itself: what this shows is what the platform's credentials can read.
    principal = platform_principal(platform.feed_name)
    reader = make_consumer(settings, None, "casebus-feed-show", principal=principal)
    registry = registry_for(settings, principal)
    decode = AvroDeserializer(registry, max_message_bytes=settings.validation.max_message_bytes)
    latest: dict[str, bytes | None] = {}
    count = 0
    try:
        parts = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic))]
        reader.assign(parts)
        reader.seek_to_beginning(*parts)
        ends = reader.end_offsets(parts)
        while any(reader.position(tp) < ends[tp] for tp in parts):
            for batch in reader.poll(timeout_ms=poll_ms).values():
                for r in batch:
                    latest[r.key.decode()] = r.value
                    count += 1
        leads = {
            key: decode(value, SerializationContext(topic))
            for key, value in sorted(latest.items())
            if value is not None
        }
    finally:
        reader.close()
        registry.close()
    gone = tuple(sorted(k for k, v in latest.items() if v is None))
    return FeedView(platform, topic, leads, gone, count)


def to_json(view: FeedView) -> str:
    body = {
        "platform": view.platform.code,
        "topic": view.topic,
        "leads": view.leads,
        "retracted": list(view.retracted),
    }
    return canonical_json(body)


def render(view: FeedView, console: Console | None = None, *, limit: int | None = None) -> None:
    """A table of the leads the platform holds (the first `limit`, agencies' leads first)."""
    console = console or Console()
    table = Table(
        title=f"{view.platform.code} ({view.platform.name}) sees {len(view.leads)} leads "
        f"on {view.topic}"
    )
    for column in ("lead", "rev", "status", "seller", "shop", "listings", "description"):
        table.add_column(column, overflow="fold")
    # The agencies' leads first: a platform knows its own reports already.
    ordered = sorted(view.leads.items(), key=lambda kv: (kv[0].startswith("PLATFORM-"), kv[0]))
    shown = ordered if limit is None else ordered[:limit]
    for key, lead in shown:
        body = lead["lead"]
        table.add_row(
            key,
            str(lead["revision"]),
            body["status"],
            body["seller_name"],
            body["shop_name"],
            str(len(body["items"])),
            body["description"][:40],
        )
    console.print(table)
    if len(shown) < len(ordered):
        console.print(
            f"… and {len(ordered) - len(shown)} more (casebus feed show {view.platform.feed_name})"
        )
    if view.retracted:
        console.print(f"retracted (tombstones): {', '.join(view.retracted)}")
