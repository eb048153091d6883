"""Events per second through the connector runner beside a bare kafka-python producer.

Run: .venv/bin/python bench/produce.py [--events N]

Runner path: map each source record, validate_event, Avro-serialize with Confluent framing,
produce with the idempotent producer (acks=all), flush and check every future per page,
write the SQLite checkpoint per page. The source is pre-fetched pages in memory (market
supervision penalty records built by the sandbox's data generator), so the HTTP sandbox is
not what is measured. The registry is primed in memory with the schema id, so no registry
round trip is measured either. Baseline: a bare KafkaProducer with the same settings
(acks=all, idempotence, lz4, linger) sending the same pre-serialized bytes, in the same run.

Broker: CASEBUS_KAFKA_BOOTSTRAP if set, else the local test broker (started or reused).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from casebus.config import LocalBroker, Settings, load_settings
from casebus.contracts.schemas import schema_text_for_topic, subject_for_topic
from casebus.kafka.broker import LocalKafka
from casebus.kafka.clients import make_producer
from casebus.publish import Publisher
from casebus.registry.client import RegistryClient
from connectors.base import Page, SourceRecord
from connectors.checkpoints import CheckpointStore
from connectors.http import SourceSession
from connectors.market_supervision import MarketSupervision
from connectors.runner import run_connector
from services.sandbox.data.world import build_world

PAGE = 1000


class InMemory(MarketSupervision):
    """The market supervision connector with its pages already fetched."""

    pages: ClassVar[list[Page]] = []

    def fetch(self, checkpoint: str | None) -> Iterator[Page]:
        yield from self.pages


def bootstrap() -> str:
    given = os.environ.get("CASEBUS_KAFKA_BOOTSTRAP")
    if given:
        return given
    root = Path(__file__).resolve().parent.parent
    broker = LocalKafka(
        root / "var" / "test" / "kafka", LocalBroker(port=39092, controller_port=39093)
    )
    return broker.start().bootstrap


def source_pages(settings: Settings, n: int) -> list[Page]:
    cfg = settings.sandbox.model_copy(update={"invalid_share": 0.0, "records_per_system": 300})
    world = build_world(settings.model_copy(update={"sandbox": cfg}))
    base = [v.body for h, v in world["samr-luzhou"].current(0) if h.kind == "penalty"]
    records: list[SourceRecord] = []
    for i in range(n):
        body = dict(base[i % len(base)])
        body["id"] = body["decision_no"] = f"泸市监处罚〔2024〕B{i}号"
        body["case_no"] = f"CASE-510500-2024-B{i % 5000:04d}"
        body["seq"] = i + 1
        records.append(body)
    return [
        Page(records[i : i + PAGE], str(records[min(i + PAGE, n) - 1]["seq"]))
        for i in range(0, n, PAGE)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    server = bootstrap()
    var = Path(tempfile.mkdtemp(prefix="casebus-bench-"))
    settings = load_settings(kafka={"bootstrap": server}, var_dir=var)
    run_id = uuid.uuid4().hex[:8]
    topic, bare_topic = f"bench.penalty.{run_id}", f"bench.bare.{run_id}"
    admin = KafkaAdminClient(bootstrap_servers=server)
    admin.create_topics(
        [
            NewTopic(topic, 6, 1),
            NewTopic(bare_topic, 6, 1),
            NewTopic(f"bench.rejects.{run_id}", 1, 1),
        ]
    )
    admin.close()

    registry = RegistryClient("http://registry.invalid")
    registry.prime(f"{topic}-value", schema_text_for_topic("casebus.penalty"), 1)
    assert subject_for_topic(topic) == f"{topic}-value"
    config = next(c for c in settings.connectors if c.module == "market_supervision")
    config = config.model_copy(
        update={"topics": {"casebus.penalty": topic, "casebus.rejects": f"bench.rejects.{run_id}"}}
    )
    InMemory.pages = source_pages(settings, args.events)
    connector = InMemory(config, settings, SourceSession())
    producer = make_producer(settings, client_id="bench-runner")
    publisher = Publisher(
        settings, producer_name="bench", topics=config.topics, registry=registry, producer=producer
    )
    store = CheckpointStore.for_var_dir(var)

    # Warm up connections and metadata outside the timings.
    producer.send(topic, b"warm").get(30)
    producer.send(bare_topic, b"warm").get(30)

    started = time.perf_counter()
    report = run_connector(connector, publisher, store)
    runner_s = time.perf_counter() - started
    assert report.error is None and report.published == args.events, report

    # The same bytes, pre-serialized, through a bare producer with the same settings.
    values = [
        (
            str(r["case_no"]).encode(),
            publisher._serializers["casebus.penalty"](
                connector.map(r)[0], publisher._contexts["casebus.penalty"]
            ),
        )
        for p in InMemory.pages
        for r in p.records
    ]
    started = time.perf_counter()
    futures = [producer.send(bare_topic, key=k, value=v) for k, v in values]
    producer.flush()
    for f in futures:
        f.get(0)
    bare_s = time.perf_counter() - started
    producer.close()

    runner_rate, bare_rate = args.events / runner_s, args.events / bare_s
    print(
        f"events: {args.events} ({len(values[0][1])} bytes each), pages of {PAGE}, broker {server}"
    )
    print("source: pre-fetched in-memory pages (the HTTP sandbox is not measured)")
    print(f"runner (map, validate, Avro, acks=all, idempotent): {runner_rate:,.0f} events/s")
    print(f"bare kafka-python producer, same pre-serialized bytes: {bare_rate:,.0f} events/s")
    print(f"runner / bare: {runner_rate / bare_rate:.0%}  (target >= 10,000 events/s and >= 70%)")


if __name__ == "__main__":
    main()
