"""Events per second through the connector runner beside a bare kafka-python producer.

Run: .venv/bin/python bench/produce.py [--events N] [--in-process] [--personal]

Runner path: map each source record, validate_event, Avro-serialize with Confluent framing
and sign (Ed25519; in worker processes for pages of >= worker_min_page records;
--in-process: never), produce with the idempotent producer (acks=all), check every future
per page, write the SQLite checkpoint per page. The source is pre-fetched pages in memory
(market supervision penalty records built by the sandbox's data generator), so the HTTP
sandbox is not what is measured. The registry is primed in memory with the schema ids, so no
registry round trip is measured either. Baselines, in the same run: the same runner without
signatures (signed / unsigned, issue 12); and its own KafkaProducer with the same settings
(PRODUCER_DEFAULTS: acks=all, idempotence, lz4, linger) and kafka-python's own partitioner,
doing a plain send(topic, key, value, headers) of the same pre-serialized bytes and headers.
Then the CPU cost per event of each stage, on one core.

`--personal` (issue 30): only the signed runner, twice over the same records, personal fields
sealed (as published) and not sealed (the comparison run: the same events, the same
validation and bytes but for the ciphertext), then sealing's share per stage on one core.
The sandbox's penalty records carry personal data at its rates: about one in five against
a natural person, with an identity number, and individual businesses' operators' numbers.

Broker: CASEBUS_KAFKA_BOOTSTRAP if set, else the benchmarks' own secured broker (SASL_SSL,
SCRAM, ACLs; started or reused), the producers authenticating as the connector's principal;
`--plaintext`: an open broker of their own, for issue 11's comparison only.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kafka import KafkaProducer
from kafka.admin import NewTopic

from bench.common import choose_broker, grant, kafka_bootstrap
from casebus.config import Settings, load_settings
from casebus.contracts.schemas import schema_text_for_topic, subject_for_topic
from casebus.kafka.clients import (
    PRODUCER_DEFAULTS,
    connection_options,
    make_producer,
    make_super_admin,
)
from casebus.personal.idcard import problem
from casebus.provenance.keys import ensure_keys
from casebus.publish import Publisher
from casebus.registry.client import RegistryClient
from casebus.security.principals import connector as connector_principal
from connectors.base import Page, SourceRecord
from connectors.checkpoints import CheckpointStore
from connectors.http import SourceSession
from connectors.market_supervision import MarketSupervision
from connectors.pipeline import PageWorkers
from connectors.runner import run_connector
from services.sandbox.data.world import build_world

PAGE = 1000
_ID_KEYS = ("person_id_no", "legal_rep_id_no")


class InMemory(MarketSupervision):
    """The market supervision connector with its pages already fetched."""

    pages: ClassVar[list[Page]] = []
    connector: ClassVar[MarketSupervision]

    def fetch(self, checkpoint: str | None) -> Iterator[Page]:
        yield from self.pages


def source_pages(settings: Settings, n: int) -> list[Page]:
    cfg = {**settings.sandbox, "invalid_share": 0.0, "records_per_system": 300}
    world = build_world(settings.model_copy(update={"sandbox": cfg}))
    base = [v.body for h, v in world["samr-luzhou"].current(0) if h.kind == "penalty"]
    # Not those whose identity number breaks GB 11643 (the sandbox makes a few, and the
    # connector quarantines them): every record is published, in each run.
    base = [b for b in base if not any(b.get(k) and problem(b[k]) for k in _ID_KEYS)]
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
    parser.add_argument(
        "--in-process", action="store_true", help="prepare every page in the runner process"
    )
    parser.add_argument(
        "--plaintext", action="store_true", help="an open broker: only for issue 11's comparison"
    )
    parser.add_argument(
        "--personal",
        action="store_true",
        help="only the runner with personal fields sealed beside the same without sealing",
    )
    args = parser.parse_args()
    protocol = choose_broker(args.plaintext)
    server = kafka_bootstrap()
    var = Path(tempfile.mkdtemp(prefix="casebus-bench-"))
    settings = load_settings(kafka={"bootstrap": server}, var_dir=var)
    run_id = uuid.uuid4().hex[:8]
    topic, bare_topic = f"bench.penalty.{run_id}", f"bench.bare.{run_id}"
    admin = make_super_admin(settings)
    admin.create_topics(
        [
            NewTopic(topic, 6, 1),
            NewTopic(bare_topic, 6, 1),
            NewTopic(f"bench.rejects.{run_id}", 1, 1),
        ]
    )
    admin.close()
    # The runner's and the bare producer's principal: the connector's own, with the ACLs
    # of the shared topics on the benchmark's.
    grant(
        settings,
        {
            topic: "casebus.penalty",
            bare_topic: "casebus.penalty",
            f"bench.rejects.{run_id}": "casebus.rejects",
        },
    )

    # Only penalties are sent; the lead and action topics are named for the schema ids
    # a worker process resolves for every topic the connector declares.
    topics = {
        "casebus.penalty": topic,
        "casebus.lead": f"bench.lead.{run_id}",
        "casebus.action": f"bench.action.{run_id}",
        "casebus.rejects": f"bench.rejects.{run_id}",
    }
    registry = RegistryClient("http://registry.invalid")
    for schema_id, logical in enumerate(("casebus.penalty", "casebus.lead", "casebus.action"), 1):
        subject = subject_for_topic(topics[logical])
        registry.prime(subject, schema_text_for_topic(logical), schema_id)
    config = next(c for c in settings.connectors if c.module == "market_supervision")
    config = config.model_copy(
        update={
            "topics": topics,
            "worker_min_page": 0 if args.in_process else config.worker_min_page,
        }
    )
    principal = connector_principal(config.owner)
    InMemory.pages = source_pages(settings, args.events)
    connector = InMemory.connector = InMemory(config, settings, SourceSession())
    ensure_keys(settings)  # this run's own signing keys, under its var dir

    def publisher_for(sign: bool, seal: bool = True) -> tuple[Publisher, KafkaProducer]:
        producer = make_producer(settings, client_id="bench-runner", principal=principal)
        producer.send(topic, b"warm").get(30)  # connections and metadata outside the timings
        publisher = Publisher(
            settings,
            producer_name="bench",
            principal=principal,
            topics=config.topics,
            registry=registry,
            producer=producer,
            sign=sign,
            seal=seal,
        )
        return publisher, producer

    def run(sign: bool, seal: bool = True) -> tuple[float, float, float, Publisher]:
        """Seconds, runner CPU and worker CPU of one full run (its own checkpoints)."""
        cpu, children = time.process_time(), _children_cpu()
        # Forked before this run's producer, as the connector runner does; closed (and so
        # waited for) before the children's CPU is read.
        workers = None if args.in_process else PageWorkers(settings, {config.name: connector})
        publisher, producer = publisher_for(sign, seal)
        label = ("signed" if sign else "unsigned") + ("" if seal else "-clear")
        store = CheckpointStore.for_var_dir(var / label)
        started = time.perf_counter()
        report = run_connector(connector, publisher, store, workers=workers)
        seconds = time.perf_counter() - started
        assert report.error is None and report.published == args.events, report
        producer.close()
        if workers is not None:
            workers.close()
        return seconds, time.process_time() - cpu, _children_cpu() - children, publisher

    if args.personal:
        personal(args.events, protocol, server, run)
        return

    # Unsigned only as the comparison: the same pipeline without signatures.
    unsigned_s, _, _, _ = run(sign=False)
    runner_s, runner_cpu, worker_cpu, publisher = run(sign=True)

    bare = KafkaProducer(
        client_id="bench-bare", **connection_options(settings, principal), **PRODUCER_DEFAULTS
    )
    bare.send(bare_topic, b"warm").get(30)

    # The same bytes, pre-serialized, through a bare producer with the same settings:
    # plain send(), kafka-python's own partitioner and futures.
    encoder = publisher.encoder
    values = [encoder.encode(connector.map(r)[0]) for p in InMemory.pages for r in p.records]
    cpu, started = time.process_time(), time.perf_counter()
    futures = [bare.send(bare_topic, key=v.key, value=v.value, headers=v.headers) for v in values]
    bare.flush()
    for f in futures:
        f.get(0)
    bare_s = time.perf_counter() - started
    bare_cpu = time.process_time() - cpu
    bare.close()

    n = args.events
    runner_rate, bare_rate = n / runner_s, n / bare_s
    print(
        f"events: {n} ({len(values[0].value)} bytes each), pages of {PAGE}, "
        f"broker {server} ({protocol})"
    )
    print("source: pre-fetched in-memory pages (the HTTP sandbox is not measured)")
    print(f"pages prepared in a worker process: {'yes' if config.worker_min_page else 'no'}")
    unsigned_rate = n / unsigned_s
    print(f"runner (map, validate, Avro, sign, acks=all, idempotent): {runner_rate:,.0f} events/s")
    print(f"the same runner without signatures: {unsigned_rate:,.0f} events/s")
    print(f"signed / unsigned: {runner_rate / unsigned_rate:.0%}  (target >= 90%)")
    print(f"bare kafka-python producer, same pre-serialized bytes: {bare_rate:,.0f} events/s")
    print(f"runner / bare: {runner_rate / bare_rate:.0%}  (target >= 10,000 events/s and >= 70%)")
    summary = {"runner": runner_rate, "unsigned": unsigned_rate, "bare": bare_rate}
    print("SUMMARY " + json.dumps({"protocol": protocol, **summary}), flush=True)
    print(f"CPU per event, runner process: {runner_cpu / n * 1e6:.1f} µs")
    print(f"CPU per event, runner's worker: {worker_cpu / n * 1e6:.1f} µs")
    print(f"CPU per event, bare producer (send + sender thread): {bare_cpu / n * 1e6:.1f} µs")
    print("stages, one core, the same records (CPU µs per event):")
    records = [r for p in InMemory.pages for r in p.records]
    events = _stage("map", n, lambda: [connector.map(r)[0] for r in records])
    _stage("validate", n, lambda: [encoder.check(e) for e in events])
    pages = [events[i : i + PAGE] for i in range(0, n, PAGE)]
    _stage("serialize+sign", n, lambda: [o for p in pages for o in encoder.encode_all(p)])
    print(f"  {'send':10s} {bare_cpu / n * 1e6:6.1f}  (the bare producer's, above)")


def personal(
    n: int,
    protocol: str,
    server: str,
    run: Callable[..., tuple[float, float, float, Publisher]],
) -> None:
    """The signed runner with personal fields sealed beside the same events not sealed."""
    records = [r for p in InMemory.pages for r in p.records]
    people = sum(1 for r in records if r.get("person_id_no"))
    operators = sum(1 for r in records if r.get("legal_rep_id_no"))
    # The comparison run first (its checkpoints apart), then the one as published.
    clear_s, clear_cpu, clear_worker, plain = run(sign=True, seal=False)
    sealed_s, sealed_cpu, sealed_worker, sealing = run(sign=True, seal=True)
    print(f"events: {n}, pages of {PAGE}, broker {server} ({protocol})")
    print(
        f"personal data: {people / n:.0%} penalties against a natural person (identity number), "
        f"{operators / n:.0%} with an individual business operator's identity number"
    )
    clear_rate, sealed_rate = n / clear_s, n / sealed_s
    clear_us = (clear_cpu + clear_worker) / n * 1e6
    sealed_us = (sealed_cpu + sealed_worker) / n * 1e6
    print(
        f"runner, personal fields sealed:     {sealed_rate:>8,.0f} events/s, "
        f"CPU {sealed_us:6.1f} µs/event (runner + worker)"
    )
    print(
        f"the same runner, fields not sealed: {clear_rate:>8,.0f} events/s, "
        f"CPU {clear_us:6.1f} µs/event (runner + worker)"
    )
    print(
        f"sealed / not sealed: {sealed_rate / clear_rate:.1%} of the events/s, "
        f"{sealed_us / clear_us:.1%} of the CPU per event  (target: cost <= 10%)"
    )
    summary = {"sealed": sealed_rate, "clear": clear_rate, "sealed_us": sealed_us}
    print("SUMMARY " + json.dumps({"protocol": protocol, **summary, "clear_us": clear_us}))
    print("stages, one core, the same records (CPU µs per event):")
    connector = InMemory.connector
    events = _stage("map", n, lambda: [connector.map(r)[0] for r in records])
    pages = [events[i : i + PAGE] for i in range(0, n, PAGE)]
    a = plain.encoder
    b = sealing.encoder
    cpu = time.process_time()
    _ = [o for p in pages for o in a.encode_all(p)]
    clear_enc = (time.process_time() - cpu) / n * 1e6
    cpu = time.process_time()
    _ = [o for p in pages for o in b.encode_all(p)]
    sealed_enc = (time.process_time() - cpu) / n * 1e6
    print(f"  {'serialize+sign':22s} {clear_enc:6.1f}")
    print(f"  {'seal+serialize+sign':22s} {sealed_enc:6.1f}  (every data key known)")
    share = (sealed_enc - clear_enc) / clear_us
    print(f"  sealing: {sealed_enc - clear_enc:.1f} µs/event = {share:.1%} of the runner's CPU")


def _stage(label: str, n: int, work: Callable[[], list[Any]]) -> list[Any]:
    cpu = time.process_time()
    out = work()
    print(f"  {label:10s} {(time.process_time() - cpu) / n * 1e6:6.1f}")
    return out


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
