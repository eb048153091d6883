"""Feeds throughput: the transactional feed service against the same pipeline without
transactions and a naive one (one transaction per lead), on the same lead topic.

    .venv/bin/python bench/feeds.py [--events 60000] [--leads 15000] [--naive-events 2000]

Fills a lead topic with lead events over `--leads` leads (revisions climbing, duplicates and
stale re-deliveries mixed in; about a third on each platform, some shared with it, public
or internal, some withdrawn later), then runs, each in a child process so its memory is its
own and each into feed topics of its own: the feed service as it runs (one transaction per
polled batch of 500), the same service with transactions off (at-least-once: flush, then
commit offsets), and the service with one transaction per lead event on a sample.
Memory: peak PSS of the child, sampled every 50 ms. Kafka: CASEBUS_KAFKA_BOOTSTRAP, else
the local test broker (127.0.0.1:39092, started if needed).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kafka import KafkaProducer
from kafka.admin import NewTopic

from bench.common import (
    choose_broker,
    family_of,
    grant,
    kafka_bootstrap,
    pss_kb,
    start_registry,
)
from casebus.config import PROJECT_ROOT, Settings, load_settings
from casebus.contracts.samples import sample_lead_event
from casebus.contracts.schemas import TOPIC_SCHEMAS
from casebus.events import LEAD_TOPIC, Event, EventType, stable_event_id
from casebus.kafka.clients import connection_options, make_super_admin
from casebus.provenance.keys import ensure_keys
from casebus.publish import EventEncoder
from casebus.registry import RegistryClient
from casebus.security.principals import admin as admin_principal
from casebus.topics import TopicNames

SITES = (
    ("PLATFORM-JD", "item.jd.com"),
    ("PLATFORM-ALIBABA", "item.taobao.com"),
    ("PLATFORM-DOUYIN", "haohuo.jinritemai.com"),
)


def lead_event(n: int, revision: int, rng: random.Random) -> Event:
    platform, host = SITES[n % 3]
    sharing = n % 7
    event = sample_lead_event()
    record_id = f"B-{n}"
    event_type = EventType.LEAD_REPORTED if revision == 1 else EventType.LEAD_STATUS_CHANGED
    withdrawn = sharing == 1 and revision > 3  # shared, then withdrawn from the 4th revision
    event.update(
        owner="510500-SAMR",
        record_id=record_id,
        revision=revision,
        event_type=event_type.value,
        case_id=f"CASE-510500-2025-{n}",
        handling="H0" if sharing == 0 else ("H3" if sharing == 6 else "H1"),
        shared_with=["510500"] + ([platform] if sharing in (1, 2, 3) and not withdrawn else []),
        producer="connector.samr-luzhou",
        event_id=stable_event_id("510500-SAMR", record_id, revision, event_type),
    )
    event["lead"].update(
        lead_no=record_id,
        platform=platform,
        shop_url=f"https://{host}/shop/{n}",
        items=[
            {"listing_url": f"https://{host}/{n}{i}.html", "listing_id": f"{n}{i}", "title": "白酒"}
            for i in range(1 + n % 3)
        ],
        description=f"线索{record_id}第{revision}版：疑似销售假冒注册商标白酒。",
    )
    return event


def fill(
    bootstrap: str, registry_url: str, topic: str, count: int, leads: int, var_dir: Path
) -> None:
    """Lead events, encoded and signed as connectors do (keys under `var_dir`)."""
    rng = random.Random(2026)
    settings = load_settings(kafka={"bootstrap": bootstrap}, var_dir=var_dir)
    # The sample events were published in 2025: the owners' keys were valid then.
    ensure_keys(settings, valid_from=datetime(2020, 1, 1, tzinfo=UTC))
    registry = RegistryClient(registry_url)
    names = TopicNames.same(TOPIC_SCHEMAS).renamed(TopicNames({LEAD_TOPIC: topic}))
    encoder = EventEncoder(settings, names, registry)
    producer = KafkaProducer(
        **connection_options(settings, admin_principal(settings)),
        acks=1,
        linger_ms=20,
        batch_size=512 * 1024,
    )
    latest = [0] * leads
    started = time.monotonic()
    page: list[Event] = []
    for i in range(count):
        n = rng.randrange(leads)
        if rng.random() < 0.75 or latest[n] == 0:
            latest[n] += 1
            revision = latest[n]
        else:
            revision = rng.randint(1, latest[n])
        page.append(lead_event(n, revision, rng))
        if len(page) == 1000 or i == count - 1:
            for out in encoder.encode_all(page):
                producer.send(out.topic, key=out.key, value=out.value, headers=out.headers)
            page = []
    producer.flush()
    producer.close()
    registry.close()
    print(f"filled {count:,} lead events in {time.monotonic() - started:.1f}s", flush=True)


def child_settings(base: dict[str, Any]) -> Settings:
    settings = load_settings(kafka={"bootstrap": base["bootstrap"]}, var_dir=base["var_dir"])
    suffix = uuid.uuid4().hex[:8]
    shared = settings.feeds
    feeds = shared.model_copy(
        update={
            "source_topic": base["topic"],
            "topic_prefix": f"bench.{suffix}.feed.",
            "state_topic": f"bench.{suffix}.feeds.state",
            "dlq_topic": f"bench.{suffix}.dlq.feeds",
            "group_id": f"bench.{suffix}.feeds",
            "transactional_id": f"bench.{suffix}.feeds",
            "batch_size": base["batch_size"],
            "transactions": base["transactions"],
        }
    )
    registry = settings.registry.model_copy(update={"url": base["registry_url"]})
    own = settings.model_copy(update={"feeds": feeds, "registry": registry})
    # The feeds principal's ACLs, re-issued for this run's topics, group and transactions.
    topics = {feeds.source_topic: shared.source_topic, feeds.state_topic: shared.state_topic}
    topics[feeds.dlq_topic] = shared.dlq_topic
    for platform in settings.platforms:
        topics[feeds.feed_topic(platform)] = shared.feed_topic(platform)
    grant(settings, topics)
    grant(settings, {feeds.group_id: shared.group_id}, "group")
    grant(settings, {feeds.transactional_id: shared.transactional_id}, "transactional-id")
    return own


def child_main(base_json: str) -> None:
    import logging
    import threading

    from services.feeds.service import FeedService

    logging.basicConfig(level=logging.WARNING)
    base = json.loads(base_json)
    service = FeedService(child_settings(base))
    try:
        report = service.run(threading.Event(), until_idle=True, limit=base["limit"] or None)
    finally:
        service.close()
    result = {
        "events": report.events,
        "seconds": report.seconds,
        "produced": report.produced,
        "transactions": report.transactions,
        "counts": report.counts,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print("RESULT " + json.dumps(result), flush=True)


def run_child(base: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", json.dumps(base)], stdout=subprocess.PIPE, text=True
    )
    peak = 0
    while proc.poll() is None:
        peak = max(peak, sum(pss_kb(p) for p in family_of(proc.pid)))
        time.sleep(0.05)
    out = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}):\n{out}")
    result: dict[str, Any] = json.loads(out.split("RESULT ", 1)[1])
    result["pss_mb"] = peak / 1024
    result["rate"] = result["events"] / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--leads", type=int, default=15_000)
    parser.add_argument("--naive-events", type=int, default=2_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument(
        "--plaintext", action="store_true", help="an open broker: only for issue 11's comparison"
    )
    parser.add_argument("--child", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()
    choose_broker(args.plaintext)
    if args.child:
        child_main(args.child)
        return
    workdir = PROJECT_ROOT / "var" / "bench" / f"feeds-{uuid.uuid4().hex[:8]}"
    workdir.mkdir(parents=True)
    bootstrap = kafka_bootstrap()
    registry, registry_url = start_registry(bootstrap, workdir)
    admin = make_super_admin(load_settings(kafka={"bootstrap": bootstrap}))
    topic = f"bench.lead.{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, 6, 1)])
    base = {
        "bootstrap": bootstrap,
        "registry_url": registry_url,
        "topic": topic,
        "var_dir": str(workdir),
        "batch_size": args.batch_size,
    }
    runs = [
        ("transactions", {"transactions": True, "limit": 0}),
        ("no transactions", {"transactions": False, "limit": 0}),
        ("naive", {"transactions": True, "limit": args.naive_events, "batch_size": 1}),
    ]
    results: dict[str, dict[str, Any]] = {}
    try:
        fill(bootstrap, registry_url, topic, args.events, args.leads, workdir)
        for name, options in runs:
            r = results[name] = run_child({**base, **options})
            print(
                f"{name:16} {r['events']:>8,} lead events {r['seconds']:6.1f}s "
                f"{r['rate']:>8,.0f} leads/s  {r['produced']:,} feed records in "
                f"{r['transactions']:,} commits  peak PSS {r['pss_mb']:.0f} MB  {r['counts']}",
                flush=True,
            )
    finally:
        admin.delete_topics([topic])
        admin.close()
        registry.terminate()
        registry.wait(timeout=10)
    txn, plain, naive = (results[n]["rate"] for n in ("transactions", "no transactions", "naive"))
    print()
    print(
        f"transactions {txn:,.0f} leads/s = {100 * txn / plain:.0f}% of no transactions "
        f"({plain:,.0f}/s) and {txn / naive:.0f}x naive ({naive:,.0f}/s); peak PSS "
        f"{results['transactions']['pss_mb']:.0f} MB (targets >= 70%, >= 20x, < 300 MB)"
    )


if __name__ == "__main__":
    main()
