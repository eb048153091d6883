"""Fixtures of the sync tests: a test's own topics, settings for them, a real producer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from casebus.config import Settings
from tests.fixtures.kafka import TopicFactory
from tests.sync.helpers import SHARED, EventProducer, SyncTopics


@pytest.fixture
def sync_topics(topic_factory: TopicFactory) -> SyncTopics:
    actual = {shared: topic_factory(shared.split(".")[1], partitions=2) for shared in SHARED}
    return SyncTopics(actual, topic_factory("dlq"), topic_factory("audit"))


@pytest.fixture
def producer(
    kafka_bootstrap: str, registry_url: str, sync_topics: SyncTopics
) -> Iterator[EventProducer]:
    p = EventProducer(kafka_bootstrap, registry_url, sync_topics.actual)
    yield p
    p.close()


@pytest.fixture
def base_settings(settings: Settings) -> Settings:
    return settings
