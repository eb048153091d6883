"""A producer that wrote to a topic stays idle once it may no longer reach it (its grant
revoked, the topic deleted): casebus.kafka.clients.idle_when_nothing_is_pending. kafka-python's
own (3.0.12) asked for metadata without pause from its next metadata refresh on, for as long
as it lived: 3 to 4 s of CPU in every 4 s here."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaError

from casebus.kafka.clients import make_producer
from casebus.security import acls
from tests.fixtures.kafka import TopicFactory, base_settings, stand_in_grants

WATCH_SECONDS = 4.0


def _cpu_seconds() -> float:
    """The CPU the process spends in WATCH_SECONDS while the test itself only sleeps."""
    started = time.process_time()
    time.sleep(WATCH_SECONDS)
    return time.process_time() - started


@pytest.mark.parametrize("lost", ["revoked", "deleted"])
def test_a_producer_that_lost_its_topic_stays_idle(
    kafka_bootstrap: str, kafka_admin: KafkaAdminClient, topic_factory: TopicFactory, lost: str
) -> None:
    settings = base_settings(kafka_bootstrap)
    topic, kept = topic_factory("penalty"), topic_factory("penalty")
    grants = stand_in_grants(settings, "penalty", topic)
    writer = sorted(g.principal for g in grants if g.operation == "write")[0]
    # Metadata refreshed every second: the loss is seen within the watch; a send to a topic
    # not there gives up after 5 s.
    producer: KafkaProducer = make_producer(
        settings, f"idle-{lost}", principal=writer, metadata_max_age_ms=1000, max_block_ms=5000
    )
    try:
        producer.send(topic, b"before").get(timeout=30)
        at_rest = _cpu_seconds()
        if lost == "revoked":
            acls.remove(kafka_admin, grants)
        else:
            kafka_admin.delete_topics([topic])
        time.sleep(1.5)  # a metadata refresh after the loss
        with pytest.raises(KafkaError):
            producer.send(topic, b"after").get(timeout=10)
        after = _cpu_seconds()
        assert after < at_rest + 0.1 * WATCH_SECONDS, (
            f"the producer used {after:.2f} s of CPU in {WATCH_SECONDS:.0f} s after its topic "
            f"was {lost} (at rest: {at_rest:.2f} s)"
        )
        # Still a working producer for the topics it may write.
        assert producer.send(kept, b"after").get(timeout=30).offset == 0
    finally:
        producer.close(timeout=10)
