"""The link between two regions: events mirrored per second, and the time from a publish in
one region to the row in the other region's database, beside the same path within one
cluster, in one run.

    .venv/bin/python bench/link.py [--events 20000] [--rate 100] [--seconds 30]

Two one-node clusters on loopback (Luzhou 39620, Qijiang 39640, state under var/bench/link),
each with its registry and its MirrorMaker 2, started as an operator does (bench/two_regions.py).

- Mirrored: `--events` Luzhou penalties shared with Qijiang published at once; the rate at
  which their copies appear on Qijiang's cluster (end offsets), beside the rate Luzhou's
  cluster acknowledged them.
- Latency: a live `casebus --region qijiang sync run 500110-SAMR`; `--rate` events a second for
  `--seconds`, one at a time, first published in Luzhou (shared with Qijiang: the copy's row),
  then in Qijiang itself (the same path within one cluster); each row seen applied by
  polling the database's event log every 20 ms (bench/rows.py). Median and 99th percentile
  of each, and their ratio.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kafka import TopicPartition

from bench.rows import RowWatch, percentile, steadily
from bench.two_regions import LUZHOU, QIJIANG, Deployment, two_regions
from bench.workload import make_event
from casebus.config import PROJECT_ROOT, Settings
from casebus.events import Event, stable_event_id
from casebus.kafka.clients import make_consumer
from casebus.publish import Publisher
from casebus.security.principals import INGEST, REPLAY

HOME = PROJECT_ROOT / "var" / "bench" / "link"
PORTS = {LUZHOU: 39620, QIJIANG: 39640}
LZ_SAMR, QJ_SAMR = "510500-SAMR", "500110-SAMR"


def bench_event(tag: str, n: int, *, owner: str) -> Event:
    """A new penalty record: Luzhou's shared with Qijiang's SAMR, or Qijiang's own."""
    event = make_event(0, n, 1)
    record_id = f"{tag}-{n}"
    event["record_id"] = event["penalty"]["decision_no"] = record_id
    event["case_id"] = f"CASE-{owner[:6]}-2026-{n:06d}"
    if owner == QJ_SAMR:
        event.update(owner=QJ_SAMR, region="500110", producer="bench-link", shared_with=[])
    else:
        event["shared_with"] = [QJ_SAMR]
    event["event_id"] = stable_event_id(owner, record_id, 1, event["event_type"])
    event["published_at"] = datetime.now(UTC)  # within the signing keys' validity
    return event


def copies(settings: Settings, topic: str) -> int:
    consumer = make_consumer(settings, None, "bench-link-copies", principal=REPLAY)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(parts).values()) if parts else 0
    finally:
        consumer.close()


def mirrored(deployment: Deployment, count: int) -> tuple[float, float]:
    """(events/s Luzhou acknowledged, events/s copied to Qijiang) for a burst of `count`."""
    lz, qj = deployment.settings(LUZHOU), deployment.settings(QIJIANG)
    before = copies(qj, "luzhou.casebus.penalty")
    publisher = Publisher(lz, producer_name="bench-link-burst", principal=INGEST)
    started = time.monotonic()
    for out in publisher.encoder.encode_all(
        [bench_event("BURST", n, owner=LZ_SAMR) for n in range(count)]
    ):
        publisher.send_encoded(out)
    publisher.producer.flush(timeout=120)
    acked = time.monotonic()
    publisher.producer.close(timeout=5)
    while copies(qj, "luzhou.casebus.penalty") - before < count:
        if time.monotonic() - started > 600:
            raise RuntimeError("the copies did not all arrive within 10 minutes")
        time.sleep(0.1)
    copied = time.monotonic()
    return count / (acked - started), count / (copied - started)


def latencies(
    settings: Settings, watch: RowWatch, tag: str, owner: str, rate: float, seconds: float
) -> list[float]:
    """Publish one event at a time at `rate`/s for `seconds`; each one's seconds to its row."""
    publisher = Publisher(settings, producer_name=f"bench-link-{tag}", principal=INGEST)

    def send(n: int) -> str:
        event = bench_event(tag, n, owner=owner)
        publisher.send_encoded(publisher.encoder.encode(event))
        return str(event["record_id"])

    sent = steadily(send, rate, seconds)
    publisher.producer.flush(timeout=60)
    publisher.producer.close(timeout=5)
    return watch.wait_for(sent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="the burst mirrored")
    parser.add_argument("--rate", type=float, default=100, help="events/s for the latency")
    parser.add_argument("--seconds", type=float, default=30, help="of each latency run")
    args = parser.parse_args()
    shutil.rmtree(HOME, ignore_errors=True)
    with two_regions(HOME, PORTS) as deployment:
        acked, copied = mirrored(deployment, args.events)
        qj = deployment.settings(QIJIANG)
        db = Path(qj.database_url(QJ_SAMR).removeprefix("sqlite:///"))
        sync = subprocess.Popen(
            [sys.executable, "-m", "cli", "--region", QIJIANG, "sync", "run", QJ_SAMR],
            env=deployment.env,
            stdout=(HOME / "sync.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        try:
            while not db.exists():
                time.sleep(0.2)
            watch = RowWatch(db)
            watch.start()
            while sum(r.startswith("BURST-") for r in list(watch.seen)) < args.events:
                time.sleep(0.5)  # every copy of the burst applied: the sync is idle and live
            lz = deployment.settings(LUZHOU)
            across = latencies(lz, watch, "ACROSS", LZ_SAMR, args.rate, args.seconds)
            within = latencies(qj, watch, "WITHIN", QJ_SAMR, args.rate, args.seconds)
            watch.stop.set()
        finally:
            sync.terminate()
            sync.wait(timeout=60)
    print(
        f"mirrored: {args.events:,} events: Luzhou acknowledged {acked:,.0f}/s, "
        f"copied to Qijiang {copied:,.0f}/s ({copied / acked:.2f}x)"
    )
    for name, values in (("across the link", across), ("within one cluster", within)):
        median, p99 = statistics.median(values) * 1000, percentile(values, 99) * 1000
        print(
            f"publish -> row, {name}: median {median:,.0f} ms, p99 {p99:,.0f} ms "
            f"({len(values):,} events at {args.rate:g}/s)"
        )
    median = statistics.median(across) / statistics.median(within)
    p99 = percentile(across, 99) / percentile(within, 99)
    print(f"ratio across / within: median {median:.1f}x, p99 {p99:.1f}x")


if __name__ == "__main__":
    main()
