"""Sync throughput: the batched sync beside a naive consumer and a bare pipeline, per database.

    .venv/bin/python bench/sync.py [--events 200000] [--naive-events 5000] [--inline]
                                   [--processes 2] [--only-new-penalties] [--only-metrics]
                                   [--databases sqlite,postgresql] [--modes batched,bare,...]
                                   [--personal]

Fills three topics with realistic events (penalties, leads with items and evidence, actions;
revisions, duplicates and stale re-deliveries mixed in; each signed by its owner), then
runs, each in a child process so its memory is its own: the real sync consumer (signatures
verified, the event log hash-chained) into SQLite and into PostgreSQL, the same sync without
the signature check (`unsigned`, the comparison of issue 12), the bare pipeline (`bare`,
issue 14's baseline, below), and a naive consumer that applies and commits one event per
transaction on a sample of the same topics, with the same database settings (on SQLite
also once more with SQLite's own defaults, `naive*`: rollback journal and an fsync per
commit). With `--processes N`, the sync also runs as N processes of one group into one
PostgreSQL database, timed from the first start to the last exit beside one process timed
the same way.
The same sync with its metrics on (`metered`: a metrics port, scraped every second by a
thread of the child, as Prometheus would) runs beside it on each database; the summary gives
its events/s as a share of the sync's without metrics. `--only-metrics` runs just those two.
`--only-new-penalties`: the topics get only new penalty records instead (revision 1 each;
no revisions, duplicates or stale ones, no leads or actions), so that the sync and the bare
pipeline process exactly the same events.

The bare pipeline is what kafka-python, fastavro and the database driver cost at least:
the sync's consumer options, principal and batch size; the penalty topic only, assigned
(no group); each record's 5-byte header stripped and its body read with the writer schema
fetched once from the registry; 15 scalar columns flattened into one table without keys or
indexes (PostgreSQL: COPY; SQLite: executemany INSERT), one commit per batch; no signature
check, validation, revision rule, event log or stored offsets. It reads only the penalty
topic rather than decoding leads and actions to drop them: those would count as events
processed without being written, making its events/s look cheaper than any event's real
cost; with `--only-new-penalties` both process the same events. It is timed from its first
poll to its last write (the topic's end offsets are read up front); the sync's time also
holds its group join and the empty poll that tells it is caught up. The summary gives the
batched sync's events/s as a share of the bare pipeline's, each over the events it
processes.

`--personal` (issue 30): only the batched sync, on each database, over the mixed stream with
personal data at the sandbox's rates (bench/workload.py: one penalty in five against a
natural person, four leads in five a 12315 complaint with the informant), filled twice into
topics of their own: personal fields sealed, as producers publish them, and the same events
not sealed (the comparison run). The agency is granted the Luzhou market supervision's
personal fields for what is shared with it (config/casebus.toml), and every event here is, so
every sealed value is opened (decrypted): the event log's notes are counted to show it.

Kafka: CASEBUS_KAFKA_BOOTSTRAP, else the benchmarks' own secured broker (SASL_SSL, SCRAM,
ACLs; 127.0.0.1:39194, or CASEBUS_BENCH_KAFKA_PORT; started if needed), the sync
authenticating as its agency's principal; `--plaintext`: an open broker of their own (39192),
for issue 11's comparison only.
PostgreSQL: CASEBUS_TEST_PG_URL, else scripts/postgres-up.sh; each run gets a fresh database,
dropped afterwards.

Memory: the peak PSS of the sync process and its decode worker together, sampled every
50 ms (PSS splits pages the two share, so the sum is what they take), beside each one's
peak RSS (which counts shared pages in both). Each sync finds its database already migrated
(this process migrates it first), as every start but an agency's first does; with
`--new-database` it migrates the database itself, and carries alembic (about 11 MB) from
then on.

Time per event: each run's stages (µs/event, wall time inside the stage) by process. With a
decode worker, decode, prepare and validate are its stages, poll, wait for worker and apply
and write the main process's; the sync's report sums a stage wherever it ran, so the
worker's decode and validate also hold the few batches the main process decodes itself
before a backlog, and foreseen events it validates again. Beside them, each process's CPU
per event (getrusage, from after the imports: set-up such as migrations included).
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from agencydb.engine import open_database
from bench.bare import run_bare
from bench.common import (
    census_lines,
    choose_broker,
    cpu_census,
    family_of,
    grant,
    kafka_bootstrap,
    peak_rss_mb,
    pg_admin_url,
    pss_kb,
    start_registry,
)
from bench.stages import stage_lines, versus_bare
from bench.workload import event_stream, make_event, new_penalties
from casebus.config import PROJECT_ROOT, Settings, load_settings
from casebus.contracts.schemas import TOPIC_SCHEMAS
from casebus.kafka.clients import connection_options, make_super_admin
from casebus.names import sync_dlq, sync_group
from casebus.provenance.keys import ensure_keys
from casebus.publish import EventEncoder
from casebus.registry import RegistryClient
from casebus.security.principals import admin as admin_principal
from casebus.security.principals import sync as sync_principal
from casebus.topics import TopicNames

AGENCY = "500110-SAMR"
SHARED = ("casebus.penalty", "casebus.lead", "casebus.action")
PARTITIONS = 3


# -- events ------------------------------------------------------------------------------------


def fill(
    bootstrap: str,
    registry_url: str,
    topics: dict[str, str],
    count: int,
    var_dir: Path,
    *,
    only_new_penalties: bool = False,
    personal: bool = False,
    seal: bool = True,
) -> None:
    """The events, encoded and signed as a connector's page worker does (EventEncoder: one
    signature per batch of an owner's events; keys under `var_dir`), pages of 1,000."""
    settings = load_settings(kafka={"bootstrap": bootstrap}, var_dir=var_dir)
    # The sample events were published in 2025: the owners' keys were valid then.
    ensure_keys(settings, valid_from=datetime(2020, 1, 1, tzinfo=UTC))
    registry = RegistryClient(registry_url)
    names = TopicNames.same(TOPIC_SCHEMAS).renamed(TopicNames(topics))
    encoder = EventEncoder(settings, names, registry, seal=seal)
    producer = KafkaProducer(
        # The harness's own client, as the tests' producer: the super user.
        **connection_options(settings, admin_principal(settings)),
        acks=1,
        linger_ms=20,
        batch_size=512 * 1024,
        compression_type="lz4",
    )
    started = time.monotonic()
    stream = new_penalties(count) if only_new_penalties else event_stream(count)
    for start in range(0, len(stream), 1000):
        page = [make_event(*spec, personal=personal) for spec in stream[start : start + 1000]]
        for out in encoder.encode_all(page):
            producer.send(out.topic, key=out.key, value=out.value, headers=out.headers)
    producer.flush()
    producer.close()
    registry.close()
    print(f"filled {count:,} events in {time.monotonic() - started:.1f}s", flush=True)


# -- children: one consumer run each, so its memory is its own --------------------------------


def bench_group() -> str:
    """A new consumer group under the sync principal's own prefix (its ACLs cover it)."""
    return f"{sync_group(AGENCY)}.bench-{uuid.uuid4().hex[:8]}"


def child_settings(base: dict[str, Any]) -> Settings:
    settings = load_settings(kafka={"bootstrap": base["bootstrap"]}, var_dir=base["var_dir"])
    sync = settings.sync.model_copy(
        update={
            "topics": tuple(f"{s}={a}" for s, a in base["topics"].items()),
            "db_url": base["db_url"],
            "group_id": base.get("group") or bench_group(),
            "dlq_topic": base["dlq"],
            "batch_size": base["batch_size"],
            "decode_worker": base["decode_worker"],
        }
    )
    registry = settings.registry.model_copy(update={"url": base["registry_url"]})
    provenance = settings.provenance.model_copy(update={"audit_topic": base["audit"]})
    return settings.model_copy(
        update={"sync": sync, "registry": registry, "provenance": provenance}
    )


def run_batched(base: dict[str, Any]) -> dict[str, Any]:
    from services.sync.service import run_sync

    port = free_port() if base.get("metrics") else 0
    scraper = Scraper(port) if port else None
    # verify=False: the comparison run, the same sync without signature checks.
    report = run_sync(
        child_settings(base), AGENCY, until_idle=True, verify=base["verify"], metrics_port=port
    )
    if scraper is not None:
        scraper.stop()
    return {
        "events": report.events,
        "seconds": report.seconds,
        "counts": dict(report.counts),
        "stages": dict(report.stages),
    }


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Scraper:
    """GET /metrics every second while the sync runs, as a Prometheus would."""

    def __init__(self, port: int) -> None:
        import threading

        self.url, self.scrapes, self._stop = (
            f"http://127.0.0.1:{port}/metrics",
            0,
            threading.Event(),
        )
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import requests

        while not self._stop.wait(1.0):
            try:
                requests.get(self.url, timeout=2).raise_for_status()
                self.scrapes += 1
            except requests.RequestException:
                pass  # not serving yet (the sync starts it once the worker is forked)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def bookkeeping_us(batch: int = 2000, batches: int = 500) -> float:
    """The metrics' own work per event, measured alone (the sync's per-batch additions to
    the counters and the per-record timestamps of the lag), free of the machine's noise."""
    from collections import namedtuple

    from casebus.observability.consumer import ConsumerLag
    from pipeline.observe import SyncObserver
    from pipeline.report import Stage, SyncReport

    record = namedtuple("record", "topic partition offset timestamp")
    records = [
        record("casebus.penalty", i % PARTITIONS, i, 1_700_000_000_000 + i) for i in range(batch)
    ]
    report = SyncReport(AGENCY)
    observer = SyncObserver(AGENCY, "bench", report, lambda: None, ready_max_lag=0, stuck_after=30)
    lag = ConsumerLag("bench")
    started = time.perf_counter()
    for n in range(batches):
        for outcome, share in (("applied", 0.7), ("duplicate", 0.25), ("stale", 0.05)):
            report.by_topic[("casebus.penalty", outcome)] += int(batch * share)
        report.worker_items["prepared"] += batch
        for stage in (Stage.POLL, Stage.DECODE, Stage.APPLY):
            report.stages[stage] += 0.01
        report.last_applied_ms = 1_700_000_000_000 + n
        observer.committed(batch)
        lag.remember(records)
    return 1e6 * (time.perf_counter() - started) / (batch * batches)


def run_naive(base: dict[str, Any]) -> dict[str, Any]:
    """Poll, then for each event: decode, apply (validating it if it would be applied, as
    the real consumer does), store its offset, commit."""
    from kafka import TopicPartition

    from agencydb.engine import open_database
    from agencydb.offsets import save_offsets
    from casebus.filtering import admits
    from casebus.kafka.clients import make_consumer
    from pipeline.apply import apply_batch
    from pipeline.inbound import Inbound

    settings = child_settings(base)
    sub = settings.sync.subscription(AGENCY)
    engine = open_database(base["db_url"])
    if base.get("sqlite_defaults"):  # SQLite as it comes: rollback journal, fsync per commit
        engine.dispose()
        engine = create_engine(base["db_url"])
    registry = RegistryClient(base["registry_url"])
    decoder = Inbound(settings, registry, TopicNames(base["topics"]))
    consumer = make_consumer(settings, None, "bench-naive", principal=sync_principal(AGENCY))
    parts = [
        TopicPartition(a, p)
        for a in base["topics"].values()
        for p in consumer.partitions_for_topic(a)
    ]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    done, limit = 0, base["limit"]
    stages = {"decode": 0.0, "validate": 0.0, "apply and write": 0.0}

    def check(event: Any, kind: str) -> str | None:
        t = time.perf_counter()
        problem = decoder.check(event, kind)
        stages["validate"] += time.perf_counter() - t
        return problem

    started = time.monotonic()
    while done < limit:
        for records in consumer.poll(timeout_ms=1000, max_records=500).values():
            for record in records[: limit - done]:
                t0 = time.perf_counter()
                (consumed,) = decoder.decode([record])
                t1, validating = time.perf_counter(), stages["validate"]
                with engine.begin() as conn:
                    items = [consumed.item]
                    apply_batch(conn, items, admit=lambda e, k: admits(sub, e, k), validate=check)
                    save_offsets(
                        conn, "bench-naive", {(record.topic, record.partition): record.offset + 1}
                    )
                t2 = time.perf_counter()
                stages["decode"] += t1 - t0
                stages["apply and write"] += t2 - t1 - (stages["validate"] - validating)
                done += 1
    seconds = time.monotonic() - started
    consumer.close()
    engine.dispose()
    return {"events": done, "seconds": seconds, "counts": {}, "stages": stages}


def _bare(base: dict[str, Any]) -> dict[str, Any]:
    return run_bare(child_settings(base), base, sync_principal(AGENCY))


def cpu_us(result: dict[str, Any]) -> float:
    """CPU microseconds per event, main process and decode worker together."""
    return 1e6 * (result["cpu"]["main"] + result["cpu"]["worker"]) / max(1, result["events"])


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def child_main(mode: str, base_json: str) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    base = json.loads(base_json)
    run = {"naive": run_naive, "bare": _bare}.get(mode, run_batched)
    # Imported before the CPU is read (what every mode runs on: about a second of CPU,
    # which would weigh more on a small run than on a large one).
    importlib.import_module("services.sync.service")
    # CPU of this process (all its threads) and of its decode worker (joined by the end).
    main, worker = cpu_seconds(resource.RUSAGE_SELF), cpu_seconds(resource.RUSAGE_CHILDREN)
    result = run(base)
    result["cpu"] = {
        "main": cpu_seconds(resource.RUSAGE_SELF) - main,
        "worker": cpu_seconds(resource.RUSAGE_CHILDREN) - worker,
    }
    # Peak RSS of this process and of its decode worker (a child, joined by now).
    result["main_mb"] = peak_rss_mb()
    result["worker_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print("RESULT " + json.dumps(result), flush=True)


def run_child(
    mode: str, base: dict[str, Any], processes: int = 1, script: str = __file__
) -> dict[str, Any]:
    """Run one consumer (or `processes` of one group at once) in child processes; the
    result, peak RSS, and the peak PSS of them and their workers together, sampled every
    50 ms. `wall` is from the first start to the last exit, as the parent saw it."""
    if processes > 1:
        base = {**base, "group": bench_group()}
    census = cpu_census()
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, script, "--child", mode, json.dumps(base)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    peak_pss = 0
    while any(p.poll() is None for p in procs):
        family = [pid for p in procs if p.poll() is None for pid in family_of(p.pid)]
        peak_pss = max(peak_pss, sum(pss_kb(pid) for pid in family))
        time.sleep(0.05)
    wall = time.monotonic() - started
    census_after = cpu_census()
    results = []
    for proc in procs:
        out = proc.stdout.read() if proc.stdout else ""
        if proc.returncode != 0:
            raise SystemExit(f"{mode} child failed ({proc.returncode}):\n{out}")
        results.append(json.loads(out.split("RESULT ", 1)[1]))
    result: dict[str, Any] = results[0]
    if processes > 1:  # the group's totals
        result["events"] = sum(r["events"] for r in results)
        result["seconds"] = max(r["seconds"] for r in results)
        outcomes = {k for r in results for k in r["counts"]}
        result["counts"] = {k: sum(r["counts"].get(k, 0) for r in results) for k in outcomes}
        result["stages"] = {
            k: sum(r["stages"].get(k, 0.0) for r in results) for k in result["stages"]
        }
        result["cpu"] = {k: sum(r["cpu"][k] for r in results) for k in result["cpu"]}
        result["main_mb"] = sum(r["main_mb"] for r in results)
        result["worker_mb"] = sum(r["worker_mb"] for r in results)
    result["pss_mb"] = peak_pss / 1024
    # Upper bound: main process + worker, each at its RSS peak, shared pages counted twice.
    result["peak_mb"] = result["main_mb"] + result["worker_mb"]
    result["rate"] = result["events"] / result["seconds"]
    result["wall"] = wall
    result["machine"] = census_lines(census, census_after, result["events"])
    return result


# -- environment ---------------------------------------------------------------------------------


class PgDatabase:
    def __init__(self, admin_url: str) -> None:
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.name = f"cb_bench_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = make_url(admin_url).set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


@dataclass
class Workspace:
    """A benchmark's own topics (three shared ones and a DLQ), registry and state folder."""

    bootstrap: str
    registry: subprocess.Popen[bytes]
    registry_url: str
    admin: KafkaAdminClient
    topics: dict[str, str]  # shared topic -> the benchmark's
    base: dict[str, Any]  # what every child is given

    @classmethod
    def open(cls, name: str, partitions: int, batch_size: int, *, decode_worker: bool) -> Workspace:
        workdir = PROJECT_ROOT / "var" / "bench" / f"{name}-{uuid.uuid4().hex[:8]}"
        workdir.mkdir(parents=True)
        bootstrap = kafka_bootstrap()
        registry, registry_url = start_registry(bootstrap, workdir)
        settings = load_settings(kafka={"bootstrap": bootstrap})
        admin = make_super_admin(settings)
        suffix = uuid.uuid4().hex[:8]
        topics = {s: f"bench.{s.split('.')[1]}.{suffix}" for s in SHARED}
        # Under the sync principal's own DLQ prefix: its ACLs cover it.
        dlq = f"{sync_dlq(AGENCY)}.bench-{suffix}"
        audit = f"bench.audit.{suffix}"
        admin.create_topics(
            [NewTopic(t, partitions, 1) for t in topics.values()]
            + [NewTopic(dlq, 1, 1), NewTopic(audit, 1, 1)]
        )
        grant(settings, {**{a: s for s, a in topics.items()}, audit: "casebus.audit"})
        base = {
            "bootstrap": bootstrap,
            "registry_url": registry_url,
            "topics": topics,
            "dlq": dlq,
            "audit": audit,
            "var_dir": str(workdir),
            "batch_size": batch_size,
            "decode_worker": decode_worker,
        }
        return cls(bootstrap, registry, registry_url, admin, topics, base)

    @property
    def workdir(self) -> Path:
        return Path(self.base["var_dir"])

    def close(self) -> None:
        self.admin.delete_topics([*self.topics.values(), self.base["dlq"], self.base["audit"]])
        self.admin.close()
        self.registry.terminate()
        self.registry.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--naive-events", type=int, default=5_000)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument(
        "--inline", action="store_true", help="no decode worker (sync.decode_worker = false)"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="also sync PostgreSQL with this many processes of one group at once",
    )
    parser.add_argument(
        "--plaintext", action="store_true", help="an open broker: only for issue 11's comparison"
    )
    parser.add_argument(
        "--only-new-penalties",
        action="store_true",
        help="fill only new penalty records: the sync and the bare pipeline process the same",
    )
    parser.add_argument(
        "--only-metrics",
        action="store_true",
        help="only the sync with metrics off and on, on each database",
    )
    parser.add_argument(
        "--databases",
        default="sqlite,postgresql",
        help="comma-separated: which databases to run (default: both)",
    )
    parser.add_argument(
        "--modes",
        default="batched,metered,bare,unsigned,naive",
        help="comma-separated: which runs (default: all; `batched,bare` for sync against bare)",
    )
    parser.add_argument(
        "--personal",
        action="store_true",
        help="only the sync over personal fields sealed beside the same events not sealed",
    )
    parser.add_argument(
        "--new-database",
        action="store_true",
        help="the sync migrates its new database itself (alembic then stays in its memory)",
    )
    parser.add_argument("--child", nargs=2, metavar=("MODE", "JSON"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.child:  # a child inherits the choice through the environment
        print(f"broker: {choose_broker(args.plaintext)}", flush=True)
    if args.child:
        child_main(*args.child)
        return
    if args.personal:
        personal(args)
        return
    bench = Workspace.open("sync", PARTITIONS, args.batch_size, decode_worker=not args.inline)
    base, workdir = bench.base, bench.workdir
    results: dict[str, dict[str, Any]] = {}
    try:
        fill(
            bench.bootstrap,
            bench.registry_url,
            bench.topics,
            args.events,
            workdir,
            only_new_penalties=args.only_new_penalties,
        )
        pg_admin = pg_admin_url()
        # (database, mode, events, SQLite's defaults, processes)
        runs = [
            ("sqlite", "batched", args.events, False, 1),
            ("sqlite", "metered", args.events, False, 1),
            ("sqlite", "bare", args.events, False, 1),
            ("sqlite", "unsigned", args.events, False, 1),
            ("sqlite", "naive", args.naive_events, False, 1),
            ("sqlite", "naive", args.naive_events, True, 1),
            ("postgresql", "batched", args.events, False, 1),
            ("postgresql", "metered", args.events, False, 1),
            ("postgresql", "bare", args.events, False, 1),
            ("postgresql", "unsigned", args.events, False, 1),
            ("postgresql", "naive", args.naive_events, False, 1),
        ]
        if args.only_metrics:
            runs = [r for r in runs if r[1] in ("batched", "metered")]
        databases, modes = set(args.databases.split(",")), set(args.modes.split(","))
        runs = [r for r in runs if r[0] in databases and r[1] in modes]
        if args.processes > 1:
            runs.append(("postgresql", "batched", args.events, False, args.processes))
        for db, mode, limit, defaults, processes in runs:
            pg = PgDatabase(pg_admin) if db == "postgresql" else None
            name = f"{mode} {db}" + (" defaults" if defaults else "")
            name += f" x{processes}" if processes > 1 else ""
            file = workdir / (name.replace(" ", "-") + ".sqlite")
            url = pg.url if pg else f"sqlite:///{file}"
            if mode in ("batched", "metered", "unsigned") and not args.new_database:
                open_database(url).dispose()  # migrated here: the sync finds it at head
            child = {**base, "db_url": url, "limit": limit, "sqlite_defaults": defaults}
            child["verify"] = mode != "unsigned"
            child["metrics"] = mode == "metered"
            try:
                results[name] = run_child(mode, child, processes)
            finally:
                if pg:
                    pg.drop()
            r = results[name]
            label = mode + ("*" if defaults else "") + (f" x{processes}" if processes > 1 else "")
            print(
                f"{label:8} {db:10} {r['events']:>8,} events "
                f"{r['seconds']:7.1f}s "
                f"{r['rate']:>9,.0f} events/s  peak PSS {r['pss_mb']:4.0f} MB, RSS "
                f"main {r['main_mb']:.0f} + worker {r['worker_mb']:.0f}  {r['counts']}",
                flush=True,
            )
            print("\n".join(stage_lines(r)), flush=True)
    finally:
        bench.close()
    print()
    print(
        f"metrics bookkeeping alone: {bookkeeping_us(args.batch_size):.2f} µs/event "
        f"(batches of {args.batch_size:,}; besides it: a scrape, a lag reading a second)"
    )
    for db in ("sqlite", "postgresql"):
        if f"batched {db}" not in results:
            continue
        if f"bare {db}" in results:
            print(versus_bare(results, db))
        if f"metered {db}" not in results or f"naive {db}" not in results:
            continue  # a run of some modes only (--modes)
        batched, metered = results[f"batched {db}"], results[f"metered {db}"]
        print(
            f"{db:10}: metrics on {metered['rate']:,.0f}/s vs off {batched['rate']:,.0f}/s = "
            f"{metered['rate'] / batched['rate']:.0%}; CPU per event (main + worker) on "
            f"{cpu_us(metered):.0f} µs vs off {cpu_us(batched):.0f} µs (target: within noise)"
        )
        if args.only_metrics:
            continue
        batched, naive = results[f"batched {db}"], results[f"naive {db}"]
        print(
            f"{db:10}: batched {batched['rate']:,.0f}/s vs naive {naive['rate']:,.0f}/s = "
            f"{batched['rate'] / naive['rate']:.0f}x; peak memory (PSS, main + worker) "
            f"{batched['pss_mb']:.0f} MB (target >= 10,000/s, >= 20x, < 300 MB)"
        )
        unsigned = results[f"unsigned {db}"]
        print(
            f"{'':10}  signatures verified {batched['rate']:,.0f}/s vs the same sync without "
            f"the check {unsigned['rate']:,.0f}/s = {batched['rate'] / unsigned['rate']:.0%} "
            "(target >= 90%)"
        )
    if args.only_metrics:
        return
    if args.processes > 1:
        one, many = results["batched postgresql"], results[f"batched postgresql x{args.processes}"]
        print(
            f"{'':10}  {args.processes} processes of one group: "
            f"{many['events'] / many['wall']:,.0f}/s from first start to last exit vs one "
            f"process {one['events'] / one['wall']:,.0f}/s"
            f" = {one['wall'] / many['wall']:.2f}x (peak PSS {many['pss_mb']:.0f} MB in all)"
        )
    rates = {name: r["rate"] for name, r in results.items()}
    protocol = load_settings().kafka.security.protocol
    workload = "only new penalties" if args.only_new_penalties else "mixed"
    print("SUMMARY " + json.dumps({"protocol": protocol, "workload": workload, **rates}))
    plain = results.get("naive sqlite defaults")
    if plain is None or "batched sqlite" not in results:
        return
    print(
        f"{'':10}  naive* (SQLite's defaults: rollback journal, fsync per commit): "
        f"{plain['rate']:,.0f}/s = {results['batched sqlite']['rate'] / plain['rate']:.0f}x"
    )


def personal(args: argparse.Namespace) -> None:
    """The batched sync over sealed personal fields beside the same events not sealed."""
    bench = Workspace.open(
        "sync-personal", PARTITIONS, args.batch_size, decode_worker=not args.inline
    )
    # The comparison run's topics beside the workspace's, under the same grants.
    clear = {s: f"{a}.clear" for s, a in bench.topics.items()}
    bench.admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in clear.values()])
    grant(load_settings(kafka={"bootstrap": bench.bootstrap}), {a: s for s, a in clear.items()})
    topics = {False: clear, True: bench.topics}
    results: dict[str, dict[str, Any]] = {}
    try:
        for seal, names in topics.items():
            fill(
                bench.bootstrap,
                bench.registry_url,
                names,
                args.events,
                bench.workdir,
                personal=True,
                seal=seal,
            )
        pg_admin = pg_admin_url()
        for db in ("sqlite", "postgresql"):
            for seal, names in topics.items():
                pg = PgDatabase(pg_admin) if db == "postgresql" else None
                name = f"{'sealed' if seal else 'clear'} {db}"
                file = bench.workdir / (name.replace(" ", "-") + ".sqlite")
                child = {**bench.base, "topics": names}
                child["db_url"] = pg.url if pg else f"sqlite:///{file}"
                child.update(limit=args.events, verify=True, metrics=False)
                try:
                    results[name] = r = run_child("batched", child)
                    notes = personal_notes(child["db_url"])
                finally:
                    if pg:
                        pg.drop()
                print(
                    f"{name:17} {r['events']:>8,} events {r['seconds']:6.1f}s "
                    f"{r['rate']:>7,.0f} events/s  CPU {cpu_us(r):5.0f} µs/event (main + "
                    f"worker)  {r['counts']}",
                    flush=True,
                )
                print(f"{'':17} event log: {notes or 'no personal values'}", flush=True)
                print("\n".join(stage_lines(r)), flush=True)
    finally:
        bench.admin.delete_topics(list(clear.values()))
        bench.close()
    print()
    for db in ("sqlite", "postgresql"):
        sealed, plain = results[f"sealed {db}"], results[f"clear {db}"]
        print(
            f"{db:10}: personal fields opened {sealed['rate']:,.0f}/s vs the same events not "
            f"sealed {plain['rate']:,.0f}/s = {sealed['rate'] / plain['rate']:.1%}; CPU per "
            f"event {cpu_us(sealed):.0f} vs {cpu_us(plain):.0f} µs = "
            f"{cpu_us(sealed) / cpu_us(plain):.1%} (target: cost <= 10%)"
        )
    rates = {name: r["rate"] for name, r in results.items()}
    print("SUMMARY " + json.dumps({"workload": "mixed, personal", **rates}))


def personal_notes(db_url: str) -> dict[str, int]:
    """The event log's notes on personal values (opened, sealed, erased), counted."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT detail, count(*) FROM event_log WHERE detail LIKE 'personal:%' "
                    "GROUP BY detail ORDER BY 2 DESC"
                )
            )
            return {str(d): int(n) for d, n in rows}
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
