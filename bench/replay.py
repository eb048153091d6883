"""Replay speed: a fresh rebuild and a one-case replay beside live sync and a naive replay.

    .venv/bin/python bench/replay.py [--events 1000000] [--naive-events 5000] [--no-postgres]
                                     [--runs live,fresh,case,naive]

Fills three topics of six partitions with bench/sync.py's mixed workload (penalties, leads
with items and evidence, actions; new revisions, duplicates and stale re-deliveries), then
runs, each in a child process so its memory is its own: live sync into an empty database
(`sync_until_idle`), `replay --all --fresh` into the same kind of database, `replay --case`
for one case into the live-synced database (a repair: its case links are read from it), and
a naive replay (decode every event of every partition, apply and commit
one at a time) on a sample; on SQLite, and on PostgreSQL unless --no-postgres.
Memory: the peak PSS of the child and its decode worker together.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from bench.common import peak_rss_mb, pg_admin_url
from bench.sync import AGENCY, PgDatabase, Workspace, child_settings, fill, run_child

PARTITIONS = 6
CASE = "CASE-510500-2025-00012"  # bench/sync.py: records 36, 37 and 38


def child_main(mode: str, base_json: str) -> None:
    import logging

    from services.replay.service import ReplayRequest, replay

    logging.basicConfig(level=logging.WARNING)
    base = json.loads(base_json)
    settings = child_settings(base)
    request = (
        ReplayRequest(AGENCY, fresh=True)
        if mode == "fresh"
        else ReplayRequest(AGENCY, case_id=CASE)
    )
    report = replay(settings, request).report
    result = {
        "events": report.events,
        "seconds": report.seconds,
        "counts": dict(report.counts),
        "stages": dict(report.stages),
        "main_mb": peak_rss_mb(),
        "worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }
    print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--naive-events", type=int, default=5_000)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--runs",
        default="live,fresh,case,naive",
        help="which of live,fresh,case,naive (case needs live; the comparisons need both)",
    )
    parser.add_argument("--child", nargs=2, metavar=("MODE", "JSON"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(*args.child)
        return
    bench = Workspace.open("replay", PARTITIONS, args.batch_size, decode_worker=True)
    base, workdir = bench.base, bench.workdir
    here = str(Path(__file__).resolve())
    every = [("live sync", "batched", None), ("fresh", "fresh", here), ("case", "case", here)]
    every.append(("naive replay", "naive", None))
    chosen = set(args.runs.split(","))
    runs = [run for run in every if {"batched": "live"}.get(run[1], run[1]) in chosen]
    results: dict[str, dict[str, Any]] = {}
    try:
        fill(bench.bootstrap, bench.registry_url, bench.topics, args.events, workdir)
        databases = ["sqlite"] + ([] if args.no_postgres else ["postgresql"])
        pg_admin = None if args.no_postgres else pg_admin_url()
        for db in databases:
            for name, mode, script in runs:
                if db == "postgresql" and mode in ("case", "naive"):
                    continue  # measured on SQLite: the database hardly matters for them
                pg = PgDatabase(pg_admin) if db == "postgresql" and pg_admin else None
                # One case is rebuilt in a database that exists: the live-synced one.
                file = "batched" if mode == "case" else mode
                url = pg.url if pg else f"sqlite:///{workdir / f'{file}-{db}.sqlite'}"
                child = {**base, "db_url": url, "limit": args.naive_events, "verify": True}
                try:
                    ran = (
                        run_child(mode, child, script=script) if script else run_child(mode, child)
                    )
                    r = results[f"{name} {db}"] = ran
                finally:
                    if pg:
                        pg.drop()
                print(
                    f"{name:13} {db:10} {r['events']:>9,} events {r['wall']:7.1f}s wall "
                    f"{r['rate']:>9,.0f} events/s  peak PSS {r['pss_mb']:4.0f} MB\n{'':13} "
                    f"{r['machine']}",
                    flush=True,
                )
    finally:
        bench.close()
    print()
    for db in databases:
        if f"live sync {db}" not in results or f"fresh {db}" not in results:
            continue
        live, fresh = results[f"live sync {db}"], results[f"fresh {db}"]
        print(
            f"{db:10}: replay --all --fresh {fresh['wall']:.1f}s vs live sync {live['wall']:.1f}s"
            f" = {live['wall'] / fresh['wall']:.2f}x as fast (target >= 1.5x); peak PSS "
            f"{fresh['pss_mb']:.0f} MB (target < 250 MB)"
        )
    if not {"case sqlite", "fresh sqlite", "naive replay sqlite"} <= set(results):
        return
    case, fresh = results["case sqlite"], results["fresh sqlite"]
    naive = results["naive replay sqlite"]
    print(
        f"{'':10}  replay --case {case['wall']:.2f}s = {100 * case['wall'] / fresh['wall']:.1f}% "
        f"of the full rebuild (target < 3%); naive replay {naive['rate']:,.0f} events/s, the "
        f"rebuild {fresh['rate'] / naive['rate']:.0f}x that"
    )


if __name__ == "__main__":
    main()
