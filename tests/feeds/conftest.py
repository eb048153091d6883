"""Fixtures of the feed tests: a lead topic of the test's own, and feed settings for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from casebus.config import Settings
from tests.feeds.helpers import feed_settings
from tests.fixtures.kafka import TopicFactory
from tests.sync.helpers import EventProducer


@pytest.fixture
def lead_topic(topic_factory: TopicFactory) -> str:
    return topic_factory("lead", partitions=3)


@pytest.fixture
def feeds(settings: Settings, lead_topic: str, registry_url: str) -> Settings:
    return feed_settings(settings, source_topic=lead_topic, registry_url=registry_url)


@pytest.fixture
def leads(kafka_bootstrap: str, registry_url: str, lead_topic: str) -> Iterator[EventProducer]:
    producer = EventProducer(kafka_bootstrap, registry_url, {"casebus.lead": lead_topic})
    yield producer
    producer.close()
