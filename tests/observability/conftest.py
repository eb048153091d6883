"""The sync tests' fixtures (a test's own topics, a real producer), used here too."""

from tests.sync.conftest import producer, sync_topics

__all__ = ["producer", "sync_topics"]
