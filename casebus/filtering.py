"""Which records a subscription admits (config/sync.toml; rules in Subscription's doc)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from casebus.config import Subscription
from casebus.topics import TOPIC_BY_FAMILY


def admits(sub: Subscription, event: Mapping[str, Any], kind: str) -> bool:
    """Whether `sub`'s agency receives this record (an event, or a stored `records` row)."""
    if TOPIC_BY_FAMILY[kind] not in sub.topics:
        return False
    handling = str(event["handling"])
    if handling not in sub.handling:
        return False
    shared = {str(s) for s in event["shared_with"]}
    if event["owner"] == sub.agency or sub.agency in shared:
        return True
    if handling == "H2":  # named agencies only: a region in shared_with is not enough
        return False
    return event["region"] in sub.regions or not shared.isdisjoint(sub.regions)
