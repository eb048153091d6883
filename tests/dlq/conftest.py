"""The DLQ tests' fixtures: the sync tests' topics and producer."""

from tests.sync.conftest import producer, sync_topics

__all__ = ["producer", "sync_topics"]
