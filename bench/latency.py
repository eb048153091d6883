"""What a clerk waits: from the publish call to the row in another agency's database, at a
steady rate, through ingest and through a connector, on one cluster and across the link.

    .venv/bin/python bench/latency.py [--rate 200] [--seconds 30] [--no-baseline]

The two-region deployment of bench/two_regions.py (Luzhou 39720, Qijiang 39740, state under
var/bench/latency), a live `casebus --region qijiang sync run 500110-PSB`, and four runs of
`--rate` events a second for `--seconds` each, every event a new penalty shared with
Qijiang's police:

- through ingest: a `POST /v1/events` of one event each to `casebus --region R ingest serve`
  (the call returns once the broker committed it), from 8 concurrent callers, by Qijiang's
  SAMR (one cluster) and by Luzhou's SAMR (across the link); first, as the same run's
  baseline (unless `--no-baseline`), through an ingest without group commit (one
  transaction per request, one at a time: `ingest.group_max_events = 1`,
  `ingest.group_committers = 1`), one cluster;
- through a connector: the connectors' publisher (idempotent producer, acks=all, its
  batching), by the same two.

Each event's time runs from the start of its publish call to the moment its row is applied
in 500110-PSB's database (polled every 20 ms, bench/rows.py): p50, p99 and max per run.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests

from bench.rows import RowWatch, describe, steadily
from bench.two_regions import LUZHOU, QIJIANG, Deployment, free_port, two_regions
from bench.workload import make_event
from casebus.config import PROJECT_ROOT
from casebus.events import Event, stable_event_id
from casebus.process import ServiceProcess, start_service
from casebus.publish import Publisher
from casebus.security.principals import connector

HOME = PROJECT_ROOT / "var" / "bench" / "latency"
PORTS = {LUZHOU: 39720, QIJIANG: 39740}
OWNERS = {QIJIANG: ("500110-SAMR", "500110"), LUZHOU: ("510500-SAMR", "510500")}
TARGET = "500110-PSB"  # the agency whose database the rows are awaited in
TOKEN = "bench-latency-token"
INGEST_CLIENTS = 8  # concurrent callers of ingest


def penalty(tag: str, n: int, region: str) -> Event:
    owner, code = OWNERS[region]
    event = make_event(0, n, 1)
    record_id = f"{tag}-{n}"
    event["record_id"] = event["penalty"]["decision_no"] = record_id
    event.update(
        owner=owner,
        region=code,
        shared_with=[TARGET],
        case_id=f"CASE-{code}-2026-{n:06d}",
        published_at=datetime.now(UTC),  # within the signing keys' validity
    )
    event["event_id"] = stable_event_id(owner, record_id, 1, event["event_type"])
    return event


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


# Ingest as it was before group commit: one transaction per request, one at a time.
UNGROUPED = {"CASEBUS_INGEST__GROUP_MAX_EVENTS": "1", "CASEBUS_INGEST__GROUP_COMMITTERS": "1"}


def start_ingest(
    deployment: Deployment, region: str, extra: dict[str, str] | None = None, name: str = ""
) -> ServiceProcess:
    port = free_port()
    owner = OWNERS[region][0].replace("-", "_")
    return start_service(
        ["--region", region, "ingest", "serve", "--port", str(port), "--metrics-port", "0"],
        url=f"http://127.0.0.1:{port}",
        log=HOME / f"ingest-{region}{name}.log",
        env={**deployment.env, f"CASEBUS_INGEST_TOKEN_{owner}": TOKEN, **(extra or {})},
        ready_path="/docs",
    )


def through_ingest(
    ingest: ServiceProcess, region: str, tag: str, rate: float, seconds: float
) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    local = threading.local()

    def post(event: dict[str, Any]) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        answer = session.post(f"{ingest.url}/v1/events", json=event, headers=headers, timeout=30)
        if answer.status_code != 202:
            raise RuntimeError(f"ingest answered {answer.status_code}: {answer.text[:300]}")

    # Agency systems post concurrently: one call waits for its transaction's commit.
    with ThreadPoolExecutor(INGEST_CLIENTS) as pool:
        calls: list[Future[None]] = []

        def send(n: int) -> str:
            event = jsonable(penalty(tag, n, region))
            for field in ("event_id", "published_at"):  # set by ingest
                event.pop(field)
            calls.append(pool.submit(post, event))
            return str(event["record_id"])

        began = time.monotonic()
        sent = steadily(send, rate, seconds)
        for call in calls:
            call.result()
        took = time.monotonic() - began
    rate_answered = len(sent) / took
    print(
        f"ingest ({region}): {len(sent):,} events answered in {took:.1f} s ({rate_answered:,.0f}/s)"
    )
    return sent


def through_connector(
    deployment: Deployment, region: str, tag: str, rate: float, seconds: float
) -> dict[str, float]:
    owner = OWNERS[region][0]
    publisher = Publisher(
        deployment.settings(region), producer_name=f"bench-{tag}", principal=connector(owner)
    )

    def send(n: int) -> str:
        event = penalty(tag, n, region)
        publisher.send_encoded(publisher.encoder.encode(event))
        return str(event["record_id"])

    try:
        return steadily(send, rate, seconds)
    finally:
        publisher.producer.flush(timeout=60)
        publisher.producer.close(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200, help="events a second")
    parser.add_argument("--seconds", type=float, default=30, help="of each run")
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="leave out the run through ingest without group commit (one cluster)",
    )
    args = parser.parse_args()
    shutil.rmtree(HOME, ignore_errors=True)
    results: list[tuple[str, list[float]]] = []
    with two_regions(HOME, PORTS) as deployment:
        db = Path(deployment.settings(QIJIANG).database_url(TARGET).removeprefix("sqlite:///"))
        sync = subprocess.Popen(
            [sys.executable, "-m", "cli", "--region", QIJIANG, "sync", "run", TARGET],
            env={**deployment.env, "CASEBUS_METRICS__ENABLED": "false"},
            stdout=(HOME / "sync.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        ingests = {r: start_ingest(deployment, r) for r in (QIJIANG, LUZHOU)}
        ungrouped = None if args.no_baseline else start_ingest(deployment, QIJIANG, UNGROUPED, "-1")
        try:
            while not db.exists():
                time.sleep(0.2)
            watch = RowWatch(db)
            watch.start()
            time.sleep(5)  # the sync has joined its group and reads
            if ungrouped is not None:  # the same run's baseline: ingest before group commit
                tag = "UNGROUPED"
                sent = through_ingest(ungrouped, QIJIANG, tag, args.rate, args.seconds)
                results.append(("ingest ungrouped, one cluster", watch.wait_for(sent)))
            for region, where in ((QIJIANG, "one cluster"), (LUZHOU, "across the link")):
                tag = f"INGEST-{region}"
                sent = through_ingest(ingests[region], region, tag, args.rate, args.seconds)
                results.append((f"ingest, {where}", watch.wait_for(sent)))
                tag = f"CONNECTOR-{region}"
                sent = through_connector(deployment, region, tag, args.rate, args.seconds)
                results.append((f"connector, {where}", watch.wait_for(sent)))
            watch.stop.set()
        finally:
            for service in [*ingests.values(), *([ungrouped] if ungrouped else [])]:
                service.stop()
            sync.terminate()
            sync.wait(timeout=60)
    print(f"publish -> row in {TARGET}'s database, {args.rate:g} events/s for {args.seconds:g} s:")
    for name, values in results:
        print(f"  {name:28}: {describe(values)} ({len(values):,} events)")


if __name__ == "__main__":
    main()
