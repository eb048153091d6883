"""The sync's CPU per event and stage, in one process, without a broker: an A/B tool.

    .venv/bin/python bench/pipeline.py [--events 20000] [--only-new-penalties]
                                       [--postgres] [--rounds 3]

`bench/sync.py` measures the real thing (broker, two processes, the database), but on a
two-core machine that also runs the broker its figures move ±10–30% from one run to the
next, more than most single changes are worth. This runs the same code on bench/sync.py's
events (signed by their owners, Avro-framed), batch by batch, in one process: the
signature check the main process makes, the decode worker's batch (decode, prepare,
validate: `DecodeWorkerJob`), the pickling both ways between them, and the checkpoint into a
new SQLite file (or, with `--postgres`, a new PostgreSQL database). The registry is primed
in memory and the DLQ is not used (the workloads have no rejects). Each round is a new
database; the best round's µs per event are printed per stage, and the process's CPU.
What it leaves out is what bench/sync.py adds: kafka-python's polling and parsing, and two
processes and the broker sharing two cores. Rounds of one run still differ by ±10% here
(the machine, not the code): compare best rounds, or count instructions with
`valgrind --tool=callgrind` (2,000 events take two minutes), which repeat exactly.
"""

from __future__ import annotations

import argparse
import collections
import pickle
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agencydb.engine import open_database
from bench.common import pg_admin_url
from bench.sync import AGENCY, PgDatabase
from bench.workload import event_stream, make_event, new_penalties
from casebus.config import load_settings
from casebus.contracts.schemas import TOPIC_SCHEMAS, schema_for_topic
from casebus.filtering import admits
from casebus.provenance.keys import ensure_keys
from casebus.publish import EventEncoder
from casebus.registry import RegistryClient
from casebus.topics import TopicNames
from pipeline.checkpoint import Checkpoint
from pipeline.decode_worker import DecodeWorkerJob
from pipeline.dlq import DeadLetters
from pipeline.handover import flatten, unflatten
from pipeline.inbound import Consumed, SignatureCheck
from pipeline.items import RawRecord
from pipeline.report import SyncReport

PARTITIONS = 3


class _NoDeadLetters:
    def send(self, *_: Any) -> None:
        raise AssertionError("the benchmark's workloads have no rejects")

    def flush(self) -> None:
        pass


def records(settings: Any, registry: RegistryClient, count: int, only_new: bool) -> list[RawRecord]:
    encoder = EventEncoder(settings, TopicNames.same(TOPIC_SCHEMAS), registry)
    stream = new_penalties(count) if only_new else event_stream(count)
    offsets: collections.Counter[tuple[str, int]] = collections.Counter()
    out = []
    for start in range(0, count, 1000):
        for o in encoder.encode_all([make_event(*spec) for spec in stream[start : start + 1000]]):
            tp = (o.topic, o.key_hash % PARTITIONS)
            out.append(RawRecord(*tp, offsets[tp], o.value, o.key, tuple(o.headers)))
            offsets[tp] += 1
    return out


def one_round(
    settings: Any, registry: RegistryClient, raw: list[RawRecord], url: str, batch: int
) -> dict[str, float]:
    names = TopicNames.same(TOPIC_SCHEMAS)
    sub = settings.sync.subscription(AGENCY)
    engine = open_database(url, sync_writer=True)
    preparer = DecodeWorkerJob(settings, names, AGENCY, url, registry, verify=True)
    check = SignatureCheck(settings, names)
    report = SyncReport(AGENCY)
    checkpoint = Checkpoint(
        engine,
        preparer.decoder,
        admit=lambda event, kind: admits(sub, event, kind),
        dead_letters=cast(DeadLetters, _NoDeadLetters()),
        report=report,
        group="bench-pipeline",
    )
    spent: collections.Counter[str] = collections.Counter()
    cpu = time.process_time()
    for start in range(0, len(raw), batch):
        records_ = raw[start : start + batch]
        t0 = time.perf_counter()
        signatures = [check(r) for r in records_]
        sent = pickle.dumps(([tuple(r) for r in records_], signatures))
        t1 = time.perf_counter()
        got, sigs = pickle.loads(sent)
        work = preparer.run([RawRecord._make(r) for r in got], sigs)
        t2 = time.perf_counter()
        back = pickle.dumps(work._replace(items=flatten(work.items)))
        t3 = time.perf_counter()
        work = pickle.loads(back)
        items = unflatten(work.items)
        t4 = time.perf_counter()
        checkpoint.commit([Consumed(r, i) for r, i in zip(records_, items, strict=True)])
        t5 = time.perf_counter()
        spent["main: verify and send"] += t1 - t0
        spent["worker: decode"] += work.decode_seconds
        spent["worker: prepare"] += work.prepare_seconds
        spent["worker: validate"] += work.validate_seconds
        spent["worker: generated pass"] += work.fused_seconds
        spent["worker: pickle items"] += t3 - t2
        spent["main: unpickle items"] += t4 - t3
        spent["main: apply and write"] += t5 - t4
    spent["= process CPU"] = time.process_time() - cpu
    engine.dispose()
    assert report.events == len(raw), report.counts
    return {k: v / len(raw) * 1e6 for k, v in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only-new-penalties", action="store_true")
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="casebus-pipeline-") as tmp:
        settings = load_settings(var_dir=Path(tmp))
        ensure_keys(settings, valid_from=datetime(2020, 1, 1, tzinfo=UTC))
        registry = RegistryClient("http://registry.invalid")  # primed: never asked
        for schema_id, topic in enumerate(sorted(TOPIC_SCHEMAS), 1):
            registry.prime(f"{topic}-value", schema_for_topic(topic), schema_id)
        raw = records(settings, registry, args.events, args.only_new_penalties)
        best: dict[str, float] = {}
        for n in range(args.rounds):
            pg = PgDatabase(pg_admin_url()) if args.postgres else None
            url = pg.url if pg else f"sqlite:///{tmp}/round-{n}.sqlite"
            try:
                spent = one_round(settings, registry, raw, url, args.batch_size)
            finally:
                if pg:
                    pg.drop()
            if not best or spent["= process CPU"] < best["= process CPU"]:
                best = spent
            print(f"round {n + 1}: {spent['= process CPU']:.1f} us/event CPU", flush=True)
    workload = "new penalties" if args.only_new_penalties else "mixed"
    database = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{args.events:,} events ({workload}) into {database}, best of {args.rounds} rounds:")
    for stage, us in best.items():
        print(f"  {stage:24} {us:7.1f} us/event")


if __name__ == "__main__":
    main()
