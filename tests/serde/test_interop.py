"""Interoperability with stock Confluent clients, through the real broker and our registry.

casebus produces (kafka-python + our serializer) → confluent-kafka's AvroDeserializer reads;
confluent-kafka's AvroSerializer (auto-registering with our registry) → our deserializer.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer

from casebus.contracts.samples import sample_lead_event, sample_penalty_event
from casebus.contracts.schemas import schema_for_topic
from casebus.events import event_key
from casebus.registry import RegistryClient
from casebus.serde import AvroDeserializer, AvroSerializer, SerializationContext
from tests.fixtures.kafka import confluent_options, harness
from tests.fixtures.registry import registry_conf

ck = pytest.importorskip("confluent_kafka")
sr = pytest.importorskip("confluent_kafka.schema_registry")
sr_avro = pytest.importorskip("confluent_kafka.schema_registry.avro")
serialization = pytest.importorskip("confluent_kafka.serialization")


def as_read(event: dict[str, Any]) -> dict[str, Any]:
    return {**event, "event_id": uuid.UUID(event["event_id"])}


def consume_one_confluent(bootstrap: str, topic: str) -> Any:
    consumer = ck.Consumer(
        {
            **confluent_options(bootstrap),
            "group.id": f"interop-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    try:
        for _ in range(60):
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                return message
        raise AssertionError(f"nothing arrived on {topic}")
    finally:
        consumer.close()


def test_stock_client_reads_what_casebus_produced(
    kafka_bootstrap: str,
    registry_url: str,
    registry_client: RegistryClient,
    topic_factory: Callable[..., str],
) -> None:
    topic = topic_factory("interop")
    event = sample_penalty_event()
    value = AvroSerializer(registry_client, "casebus.penalty")(event, SerializationContext(topic))
    producer = KafkaProducer(acks="all", **harness(kafka_bootstrap))
    producer.send(topic, key=event_key(event), value=value).get(timeout=30)
    producer.close()

    message = consume_one_confluent(kafka_bootstrap, topic)
    client = sr.SchemaRegistryClient(registry_conf(registry_url))
    deserializer = sr_avro.AvroDeserializer(client)
    ctx = serialization.SerializationContext(topic, serialization.MessageField.VALUE)
    decoded = deserializer(message.value(), ctx)
    assert message.key() == event["case_id"].encode()
    assert decoded == as_read(event)


def test_casebus_reads_what_the_stock_client_produced(
    kafka_bootstrap: str,
    registry_url: str,
    registry_client: RegistryClient,
    topic_factory: Callable[..., str],
) -> None:
    topic = topic_factory("interop")
    event = sample_lead_event()
    client = sr.SchemaRegistryClient(registry_conf(registry_url))
    serializer = sr_avro.AvroSerializer(
        client,
        json.dumps(schema_for_topic("casebus.lead"), ensure_ascii=False),
        conf={"auto.register.schemas": True},
    )
    ctx = serialization.SerializationContext(topic, serialization.MessageField.VALUE)
    producer = ck.Producer({**confluent_options(kafka_bootstrap), "acks": "all"})
    producer.produce(topic, key=event_key(event), value=serializer(event, ctx))
    assert producer.flush(30) == 0

    consumer = KafkaConsumer(
        topic,
        **harness(kafka_bootstrap),
        auto_offset_reset="earliest",
        consumer_timeout_ms=30_000,
    )
    try:
        record = next(iter(consumer))
    finally:
        consumer.close()
    ours = AvroDeserializer(registry_client, max_message_bytes=1_048_576)
    decoded = ours.decode(record.value, SerializationContext(topic))
    assert decoded.value == as_read(event)
    assert decoded.schema_id == registry_client.lookup(
        f"{topic}-value", schema_for_topic("casebus.lead")
    )
