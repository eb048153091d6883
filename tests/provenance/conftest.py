"""The sync and feed tests' fixtures: untrusted events go through the same services."""

from tests.feeds.conftest import feeds, lead_topic, leads
from tests.sync.conftest import producer, sync_topics

__all__ = ["feeds", "lead_topic", "leads", "producer", "sync_topics"]
