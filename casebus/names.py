"""Consumer-group, DLQ and transactional-id names: built here and nowhere else.

Config (casebus/config.py) falls back to these defaults, and the ACL plan
(casebus/security/acls.py) grants exactly these names, or the prefixes below them.
"""

from __future__ import annotations

from casebus.ids import AgencyCode

SYNC_GROUP_PREFIX = "casebus.sync."
DLQ_PREFIX = "casebus.dlq."
SYNC_DLQ_PREFIX = f"{DLQ_PREFIX}sync."
FEEDS_GROUP = "casebus.feeds"
FEEDS_DLQ = f"{DLQ_PREFIX}feeds"
FEEDS_TRANSACTIONAL_ID = "casebus.feeds"
INGEST_TXN_PREFIX = "casebus-ingest"
# Every group a casebus consumer joins starts with this (replay and status describe them).
GROUP_PREFIX = "casebus."


def sync_group(agency: AgencyCode | str) -> str:
    """An agency's sync consumer group; the sync principal may use any group below it."""
    return f"{SYNC_GROUP_PREFIX}{agency}"


def sync_dlq(agency: AgencyCode | str) -> str:
    """An agency's sync DLQ (replay's refusals for that agency go there too)."""
    return f"{SYNC_DLQ_PREFIX}{agency}"


def platform_group_prefix(feed_name: str) -> str:
    """A platform's own consumer groups: `casebus.feed.<p>.` and any name below it."""
    return f"casebus.feed.{feed_name}."
