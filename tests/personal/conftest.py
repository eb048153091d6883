"""The sync tests' own topics and producer, for the personal-data tests on the broker."""

from __future__ import annotations

from tests.sync.conftest import producer, sync_topics

__all__ = ["producer", "sync_topics"]
