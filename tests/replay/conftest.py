"""Fixtures of the replay tests: the sync tests' own topics and producer, and settings."""

from __future__ import annotations

import pytest

from casebus.config import Settings
from tests.sync.conftest import producer, sync_topics
from tests.sync.helpers import SyncTopics, sync_settings

__all__ = ["producer", "sync_topics"]


@pytest.fixture
def sync_base(settings: Settings, registry_url: str, sync_topics: SyncTopics) -> Settings:
    """Settings for AGENCY on this test's topics (the database is set per test)."""
    return sync_settings(settings, registry_url=registry_url, db_url="", topics=sync_topics)
