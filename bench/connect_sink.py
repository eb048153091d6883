"""The sync beside a stock Kafka Connect JDBC sink: same secured broker, records, PostgreSQL.

    .venv/bin/python bench/connect_sink.py [--events 100000] [--rounds 1]
        [--configs 500x1,1000x1,2000x1] [--rest-port 47083]

Issue 28 asks for the sync at 0.8x at least of a stock Kafka Connect JDBC sink on the same
secured broker, over the same records, into the same PostgreSQL. Confluent's JDBC sink
(kafka-connect-jdbc, the figure the issue quotes) is not published on Maven Central, the
only Java registry this machine reaches; Debezium's JDBC sink connector is, and does the
same job (upserts a topic's records into a table by primary key, in batches, through JDBC),
so it stands in for it (3.6.0.Final, the newest Central serves). Connect is Apache Kafka's
own runtime (ConnectStandalone) of the broker's version, with its JsonConverter; the jars
come from Maven Central through bench/connect-pom.xml into a user cache folder
(casebus/kafka/jars.py), on the first run.

Kafka: the benchmarks' secured broker (bench/common.py: SASL_SSL, SCRAM, ACLs; 39194, or
CASEBUS_BENCH_KAFKA_PORT), started if needed. PostgreSQL: CASEBUS_TEST_PG_URL, else
scripts/postgres-up.sh; every run below gets a fresh database, dropped afterwards.

One run:
1. Fills a penalty topic with N new penalty records (revision 1 each), encoded and signed
   as producers publish them (bench/sync.py's fill, `only_new_penalties`).
2. Reads them back and renders each as JSON with its schema (JsonConverter,
   schemas.enable=true) onto a topic of their own, same partition: the 15 scalar columns
   bench/bare.py flattens, keyed by the record's (owner, record_id). Before any timing.
3. The batched sync (bench/sync.py's child: signatures verified, validation, revision rule,
   hash-chained event log, offsets stored with the rows) into a fresh PostgreSQL database.
4. The bare pipeline (bench/bare.py: poll, Avro decode, COPY of the 15 columns), for
   reference, into another.
5. For each Connect configuration (`BATCHxTASKS`: the sink's batch.size, which is also the
   consumer's max.poll.records, and tasks.max; then `r` for the PostgreSQL driver's
   reWriteBatchedInserts, `u` for the sink's own UNNEST inserts): Connect standalone with
   Debezium's JDBC sink, insert.mode=upsert, primary.key.mode=record_key (owner,
   record_id), the table created by the sink (schema.evolution=basic), authenticating as
   the admin principal (SASL_SSL, SCRAM, the bench's CA) into a fresh database; stopped
   once every row is there. The JVM runs with the options of Apache Kafka's
   connect-standalone.sh (-Xmx2G, G1).
With `--rounds N`, steps 3 to 5 run N times over the same topics; the ratios take each
run's best round.

Measured alike for every run, by one thread polling `count(*)` of the run's table every
0.1 s: start to last row (from the process's start, JVM or Python, to the poll that sees all
N rows) and first row to last row (rows after the first poll that saw any, over the time
between the two polls: leaves out start-up, and for the sync its migrations and group join).
Besides, each run's own figure: the sync's `rate` is its events over its batch loop (from
before its group join to the empty poll that tells it is caught up); the bare pipeline's,
from its first poll to its last write; Connect has none of its own. The ratios are the
sync's over the best Connect configuration (by first-to-last rate) and over the bare
pipeline, each measure with its like.

Memory: peak PSS, sampled every 50 ms: the sync process and its decode worker together,
the bare pipeline, the Connect JVM. CPU per row: user and system CPU of the same processes,
over the whole run and between the polls that saw the first and the last rows (the
PostgreSQL server's CPU is counted in none).

The tables differ in what they hold: the sync writes its whole model (the decision's 34
columns, the record, the case, the event log and its offsets); Connect and the bare
pipeline write the 15 columns (their tables and keys are printed). Each table's rows are
checked (count, distinct keys, the sum of the fines) against the others.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kafka import KafkaProducer
from kafka.admin import NewTopic
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bench.bare import BARE_ENVELOPE, BARE_PENALTY, flatten, penalty_reader, writer_schema
from bench.common import choose_broker, family_of, pg_admin_url, pss_kb
from bench.sync import PARTITIONS, PgDatabase, Workspace, cpu_us, fill, run_child
from casebus.config import PROJECT_ROOT, Settings, load_settings
from casebus.kafka.clients import connection_options
from casebus.kafka.connect import write_log4j, write_properties
from casebus.kafka.jars import fetched_libs, kafka_version
from casebus.security.principals import admin as admin_principal
from casebus.security.secrets import SecretStore

CONNECT_POM = PROJECT_ROOT / "bench" / "connect-pom.xml"
MAIN_CLASS = "org.apache.kafka.connect.cli.ConnectStandalone"
SINK_CLASS = "io.debezium.connector.jdbc.JdbcSinkConnector"
CONNECT_TABLE = "connect_penalties"
# What Apache Kafka's bin/connect-standalone.sh and kafka-run-class.sh give the JVM.
STOCK_JVM = [
    "-Xms256M",
    "-Xmx2G",
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
]
POLL_SECONDS = 0.1
STALL_SECONDS = 180.0  # no new row for this long: the run failed

# -- the records for Connect: JSON with schema ---------------------------------------------------

_STRING: dict[str, Any] = {"type": "string", "optional": False}
_DECIMAL: dict[str, Any] = {
    "type": "bytes",
    "optional": True,
    "name": "org.apache.kafka.connect.data.Decimal",
    "version": 1,
    "parameters": {"scale": "6", "connect.decimal.precision": "18"},
}
# The 15 columns of bench/bare.py's flatten, as Connect schemas (Avro's logical types as
# Connect's: timestamp-millis as Timestamp, date as Date, decimal(18, 6) as Decimal).
COLUMN_SCHEMAS: dict[str, dict[str, Any]] = {
    "owner": _STRING,
    "record_id": _STRING,
    "revision": {"type": "int64", "optional": False},
    "event_type": _STRING,
    "case_id": _STRING,
    "region": _STRING,
    "occurred_at": {
        "type": "int64",
        "optional": False,
        "name": "org.apache.kafka.connect.data.Timestamp",
        "version": 1,
    },
    "decision_no": _STRING,
    "decision_date": {
        "type": "int32",
        "optional": False,
        "name": "org.apache.kafka.connect.data.Date",
        "version": 1,
    },
    "party_name": _STRING,
    "party_uscc": {"type": "string", "optional": True},
    "violation_type": _STRING,
    "fine_amount": _DECIMAL,
    "confiscated_amount": _DECIMAL,
    "authority_name": _STRING,
}
COLUMNS = BARE_ENVELOPE + BARE_PENALTY
KEY_COLUMNS = ("owner", "record_id")
assert tuple(COLUMN_SCHEMAS) == COLUMNS


def _struct(name: str, columns: tuple[str, ...]) -> str:
    fields = [{**COLUMN_SCHEMAS[c], "field": c} for c in columns]
    return json.dumps({"type": "struct", "name": name, "optional": False, "fields": fields})


VALUE_SCHEMA = _struct("casebus.bench.Penalty", COLUMNS)
KEY_SCHEMA = _struct("casebus.bench.PenaltyKey", KEY_COLUMNS)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def connect_value(value: Any) -> Any:
    """A column's value as JsonConverter reads it for its Connect schema."""
    if isinstance(value, datetime):  # Timestamp: milliseconds since the epoch
        return (value - EPOCH) // timedelta(milliseconds=1)
    if isinstance(value, date):  # Date: days since the epoch
        return (value - EPOCH.date()).days
    if isinstance(value, Decimal):  # Decimal: the unscaled value's bytes, base64 (its default)
        unscaled = int(value.scaleb(6))
        size = unscaled.bit_length() // 8 + 1
        return base64.b64encode(unscaled.to_bytes(size, "big", signed=True)).decode()
    return value


def render(row: tuple[Any, ...]) -> tuple[bytes, bytes]:
    """(key, value) of one flattened penalty, each as JSON with its schema."""
    payload = {c: connect_value(v) for c, v in zip(COLUMNS, row, strict=True)}
    key = {c: payload[c] for c in KEY_COLUMNS}
    return (
        f'{{"schema":{KEY_SCHEMA},"payload":{json.dumps(key)}}}'.encode(),
        f'{{"schema":{VALUE_SCHEMA},"payload":{json.dumps(payload)}}}'.encode(),
    )


def copy_as_json(settings: Settings, source: str, target: str, batch_size: int) -> int:
    """Every record of the Avro penalty topic `source`, decoded with its writer schema and
    flattened as the bare pipeline does, produced as JSON onto `target` (same partition)."""
    from fastavro import schemaless_reader

    from casebus.serde.framing import HEADER_SIZE

    principal = admin_principal(settings)
    schema = writer_schema(settings, source, principal)
    consumer, total = penalty_reader(settings, source, batch_size, principal)
    producer = KafkaProducer(
        **connection_options(settings, principal),
        acks=1,
        linger_ms=20,
        batch_size=512 * 1024,
        compression_type="lz4",
    )
    started, done = time.monotonic(), 0
    while done < total:
        for records in consumer.poll(timeout_ms=1000, max_records=batch_size).values():
            for record in records:
                body = io.BytesIO(record.value)
                body.seek(HEADER_SIZE)
                event = cast(dict[str, Any], schemaless_reader(body, schema, None))
                key, value = render(flatten(event))
                producer.send(target, key=key, value=value, partition=record.partition)
                done += 1
    producer.flush()
    producer.close()
    consumer.close()
    print(f"rendered {done:,} records as JSON in {time.monotonic() - started:.1f}s", flush=True)
    return done


# -- watching a table fill ---------------------------------------------------------------------


class RowWatch:
    """count(*) of `table` every POLL_SECONDS, in a thread, until it holds `expected` rows:
    when (monotonic) the first rows were seen and how many, and when the last was; with
    `cpu_of` set, the CPU seconds it gives at each of the two."""

    def __init__(self, db_url: str, table: str, expected: int) -> None:
        self.cpu_of: Callable[[], float] | None = None
        self.cpu_first = self.cpu_last = 0.0
        self.engine = create_engine(db_url, isolation_level="AUTOCOMMIT")
        self.table, self.expected = table, expected
        self.count = 0
        self.first_at: float | None = None
        self.first_count = 0
        self.last_at: float | None = None
        self.progress_at = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        query = text(f"SELECT count(*) FROM {self.table}")
        with self.engine.connect() as conn:
            while not self._stop.is_set():
                seen = time.monotonic()  # the count is of the snapshot its query starts with
                try:
                    count = int(conn.execute(query).scalar_one())
                except DBAPIError:  # not created yet
                    count = 0
                if count > self.count:
                    self.count, self.progress_at = count, seen
                if count and self.first_at is None:
                    self.first_at, self.first_count = seen, count
                    self.cpu_first = self.cpu_of() if self.cpu_of else 0.0
                if count >= self.expected:
                    self.last_at = seen
                    self.cpu_last = self.cpu_of() if self.cpu_of else 0.0
                    return
                self._stop.wait(POLL_SECONDS)

    @property
    def done(self) -> bool:
        return self.last_at is not None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.engine.dispose()


@dataclass
class Run:
    """One run's figures: `started` is its process's start (monotonic)."""

    name: str
    events: int
    started: float
    watch: RowWatch
    pss_mb: float
    cpu_us: float  # CPU per event, the whole process, start-up included
    own_rate: float | None = None
    own_what: str = ""
    check: tuple[Any, ...] = ()
    notes: list[str] = field(default_factory=list)

    @property
    def start_to_last(self) -> float:
        assert self.watch.last_at is not None
        return self.watch.last_at - self.started

    @property
    def first_to_last_rate(self) -> float:
        w = self.watch
        assert w.first_at is not None and w.last_at is not None
        span = w.last_at - w.first_at
        # All rows seen by one poll (too few events to time): no rate between polls.
        return (self.events - w.first_count) / span if span > 0 else float("nan")

    @property
    def window_cpu_us(self) -> float:
        """CPU per row from the first row to the last (start-up left out)."""
        w = self.watch
        rows = self.events - w.first_count
        return 1e6 * (w.cpu_last - w.cpu_first) / rows if rows else float("nan")


def table_shape(db_url: str, table: str) -> str:
    """`table`'s number of columns and its primary key, as the database has them."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            columns = conn.execute(
                text("SELECT count(*) FROM information_schema.columns WHERE table_name = :t"),
                {"t": table},
            ).scalar_one()
            key = conn.execute(
                text(
                    "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = "
                    "i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = CAST(:t AS "
                    "regclass) AND i.indisprimary ORDER BY "
                    "array_position(CAST(i.indkey AS smallint[]), a.attnum)"
                ),
                {"t": table},
            ).scalars()
            names = ", ".join(key)
            return f"{table}: {columns} columns, " + (
                f"primary key ({names})" if names else "no primary key"
            )
    finally:
        engine.dispose()


def table_check(db_url: str, table: str) -> tuple[Any, ...]:
    """(rows, distinct keys, sum of the fines): the same records, whatever else differs."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    f"SELECT count(*), count(DISTINCT (owner, record_id)), "
                    f"sum(fine_amount) FROM {table}"
                )
            ).one()
            return (int(row[0]), int(row[1]), Decimal(row[2] or 0))
    finally:
        engine.dispose()


# -- the Python runs -----------------------------------------------------------------------------


def python_run(
    mode: str, table: str, base: dict[str, Any], events: int, name: str, registry: int
) -> Run:
    """The sync (`batched`) or the bare pipeline in bench/sync.py's child, watched; its CPU
    is that of this process's children and theirs, but the registry's (pid `registry`)."""
    pg = PgDatabase(pg_admin_url())
    try:
        child = {**base, "db_url": pg.url, "limit": events, "sqlite_defaults": False}
        child.update(verify=True, metrics=False)
        watch = RowWatch(pg.url, table, events)
        watch.cpu_of = lambda: sum(
            process_cpu_seconds(p) for p in descendants(os.getpid()) if p != registry
        )
        started = time.monotonic()
        try:
            result = run_child(mode, child, 1)
            deadline = time.monotonic() + 5  # the child's last commit, seen by the next poll
            while not watch.done and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS / 2)
        finally:
            watch.stop()
        if not watch.done:
            raise SystemExit(f"{name}: {watch.count:,} of {events:,} rows in {table}")
        cpu = cpu_us(result)
        run = Run(name, events, started, watch, result["pss_mb"], cpu, result["rate"])
        run.check = table_check(pg.url, table)
        run.notes.append(table_shape(pg.url, table))
        run.notes.append(f"counts {result['counts']}")
        return run
    finally:
        pg.drop()


# -- Kafka Connect -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectConfig:
    batch_size: int  # the sink's batch.size and the consumer's max.poll.records
    tasks: int
    # `r`: the PostgreSQL driver's reWriteBatchedInserts=true, a JDBC batch sent as multi-row
    # INSERTs (ON CONFLICT kept), the usual tuning of a JDBC sink into PostgreSQL.
    rewrite: bool = False
    # `u`: the sink's dialect.postgres.unnest.insert.enabled=true, a batch as one INSERT ...
    # SELECT FROM unnest(arrays) (Debezium's own; Confluent's sink has nothing like it).
    unnest: bool = False

    @classmethod
    def parse(cls, spec: str) -> ConnectConfig:
        """BATCHxTASKS, then `r` and/or `u`: 500x1, 2000x1r, 2000x1u."""
        core = spec.rstrip("ru")
        batch, _, tasks = core.partition("x")
        flags = spec[len(core) :]
        return cls(int(batch), int(tasks or 1), "r" in flags, "u" in flags)

    @property
    def label(self) -> str:
        label = f"batch.size {self.batch_size}, tasks.max {self.tasks}"
        return label + (", rewrite" if self.rewrite else "") + (", unnest" if self.unnest else "")

    @property
    def slug(self) -> str:
        return f"{self.batch_size}x{self.tasks}" + "r" * self.rewrite + "u" * self.unnest


def connect_name(config: ConnectConfig) -> str:
    return f"Connect, {config.label}"


def client_properties(settings: Settings) -> dict[str, str]:
    """Connect's connection to the secured broker as the admin principal (super user)."""
    security = settings.kafka.security
    props = {
        "bootstrap.servers": settings.kafka.bootstrap_servers,
        "security.protocol": security.protocol,
    }
    if security.sasl:
        principal = admin_principal(settings)
        secret = SecretStore(settings.secrets_dir).get(principal)
        props["sasl.mechanism"] = security.mechanism
        props["sasl.jaas.config"] = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{principal}" password="{secret}";'
        )
    if security.tls:
        props["ssl.truststore.type"] = "PEM"
        props["ssl.truststore.location"] = str(settings.ca_file)
    return props


def worker_properties(
    settings: Settings, config: ConnectConfig, folder: Path, rest_port: int
) -> dict[str, str]:
    client = client_properties(settings)
    props = {
        **client,
        # The worker's own settings are not its clients': the sink task's consumer (and the
        # producer and admin the runtime may make) each get the connection prefixed.
        **{
            f"{kind}.{k}": v
            for kind in ("consumer", "producer", "admin")
            for k, v in client.items()
        },
        "consumer.max.poll.records": str(config.batch_size),
        # Room for a whole batch in one fetch (a record here is about 2.4 kB of JSON; the
        # default, 1 MiB a partition, holds some 400): the sink writes each poll's records.
        "consumer.max.partition.fetch.bytes": str(16 * 1024 * 1024),
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "true",
        "value.converter.schemas.enable": "true",
        "offset.storage.file.filename": str(folder / "connect.offsets"),
        "offset.flush.interval.ms": "10000",
        "listeners": f"http://127.0.0.1:{rest_port}",
        # Everything is on the classpath; the jars' ServiceLoader manifests name the plugins.
        "plugin.discovery": "service_load",
    }
    return props


def sink_properties(topic: str, db_url: str, config: ConnectConfig) -> dict[str, str]:
    url = make_url(db_url)
    return {
        "name": f"casebus-bench-jdbc-sink-{uuid.uuid4().hex[:8]}",
        "connector.class": SINK_CLASS,
        "tasks.max": str(config.tasks),
        "topics": topic,
        "connection.url": f"jdbc:postgresql://{url.host}:{url.port or 5432}/{url.database}"
        + ("?reWriteBatchedInserts=true" if config.rewrite else ""),
        "connection.username": str(url.username),
        "connection.password": str(url.password),
        "insert.mode": "upsert",
        "primary.key.mode": "record_key",
        "primary.key.fields": ",".join(KEY_COLUMNS),
        "schema.evolution": "basic",
        "collection.name.format": CONNECT_TABLE,
        "batch.size": str(config.batch_size),
        "dialect.postgres.unnest.insert.enabled": str(config.unnest).lower(),
    }


def connect_command(folder: Path, worker: Path, sink: Path, java: str) -> list[str]:
    libs = fetched_libs(CONNECT_POM, "connect-jdbc-sink")
    log4j = write_log4j(folder)
    return [
        java,
        *STOCK_JVM,
        f"-Dlog4j2.configurationFile={log4j}",
        "-cp",
        f"{libs}/*",
        MAIN_CLASS,
        str(worker),
        str(sink),
    ]


def connect_run(
    settings: Settings,
    topic: str,
    events: int,
    config: ConnectConfig,
    workdir: Path,
    rest_port: int,
    java: str,
) -> Run:
    """Connect standalone with the JDBC sink into a fresh database, from the JVM's start to
    the last row; stopped (SIGTERM) once every row is there."""
    folder = workdir / f"connect-{config.slug}-{uuid.uuid4().hex[:4]}"
    folder.mkdir()
    pg = PgDatabase(pg_admin_url())
    try:
        worker, sink = folder / "worker.properties", folder / "sink.properties"
        write_properties(worker, worker_properties(settings, config, folder, rest_port))
        write_properties(sink, sink_properties(topic, pg.url, config))
        command = connect_command(folder, worker, sink, java)
        log_file = folder / "connect.log"
        watch = RowWatch(pg.url, CONNECT_TABLE, events)
        peak_pss = 0
        with log_file.open("wb") as log:
            started = time.monotonic()
            proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
            watch.cpu_of = lambda: process_cpu_seconds(proc.pid)
            try:
                while not watch.done:
                    if proc.poll() is not None:
                        raise SystemExit(f"Connect exited ({proc.returncode}):\n{tail(log_file)}")
                    if time.monotonic() - watch.progress_at > STALL_SECONDS:
                        raise SystemExit(
                            f"Connect: {watch.count:,} of {events:,} rows after "
                            f"{STALL_SECONDS:.0f}s without progress:\n{tail(log_file)}"
                        )
                    peak_pss = max(peak_pss, sum(pss_kb(p) for p in family_of(proc.pid)))
                    time.sleep(0.05)
                cpu = process_cpu_seconds(proc.pid)
            finally:
                watch.stop()
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        per_event = 1e6 * cpu / events
        run = Run(connect_name(config), events, started, watch, peak_pss / 1024, per_event)
        run.check = table_check(pg.url, CONNECT_TABLE)
        run.notes.append(table_shape(pg.url, CONNECT_TABLE))
        run.notes.append(f"log {log_file.relative_to(PROJECT_ROOT)}")
        return run
    finally:
        pg.drop()


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU of a running process (all its threads), from /proc; 0 once gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """The processes under `pid`, at any depth."""
    found: list[int] = []
    for child in family_of(pid)[1:]:
        found += [child, *descendants(child)]
    return found


def tail(path: Path, lines: int = 25) -> str:
    text_lines = path.read_text("utf-8", errors="replace").splitlines()
    errors = [ln for ln in text_lines if " ERROR " in ln or "Exception" in ln][:10]
    return "\n".join([*errors, "...", *text_lines[-lines:]])


# -- the report ----------------------------------------------------------------------------------


def best_of(runs: list[Run]) -> Run:
    return max(runs, key=lambda r: r.first_to_last_rate)


def report(runs: dict[str, list[Run]], configs: list[ConnectConfig]) -> None:
    """Every run's figures, then the ratios over each one's best run (by first-to-last rate)."""
    print()
    print(
        f"{'run':48} {'events':>8} {'start to last row':>20} {'first to last row':>18} "
        f"{'own figure':>11} {'peak PSS':>9} {'CPU/row: all':>13} {'first to last':>13}"
    )
    for run in (r for rs in runs.values() for r in rs):
        own = f"{run.own_rate:,.0f}/s" if run.own_rate else "-"
        whole = run.events / run.start_to_last
        print(
            f"{run.name:48} {run.events:>8,} {run.start_to_last:7.1f}s {whole:>8,.0f}/s "
            f"{run.first_to_last_rate:>16,.0f}/s {own:>11} {run.pss_mb:>6.0f} MB "
            f"{run.cpu_us:>10.0f} µs {run.window_cpu_us:>10.0f} µs"
        )
    print()
    print(
        "start to last row: the process's start (Python or JVM) to the count(*) poll that "
        "saw all rows;\nfirst to last row: the rows after the first poll that saw any, over "
        "the time to the last;\nown figure: the sync's events over its batch loop (group join "
        "to the empty poll that ends it),\nthe bare pipeline's from its first poll to its "
        "last write.\nCPU/row: user and system CPU of the process (the sync's with its decode "
        "worker's), per row:\nall: the sync's from after its imports to its exit, Connect's from "
        "the JVM's start to the last row;\nfirst to last: between the polls that saw the first "
        "and the last rows, over the rows in between\n(the database server's CPU is in neither)."
    )
    checks = {(r.name, r.check) for rs in runs.values() for r in rs}
    first = next(iter(runs.values()))[0].check
    same = len({check for _, check in checks}) == 1
    print(
        "rows (count, distinct keys, sum of fines): "
        f"{'the same in every table' if same else 'DIFFER'}: {first}"
    )
    if not same:
        for name, check in sorted(checks):
            print(f"  {name}: {check}")
    sync, bare = best_of(runs["casebus sync"]), best_of(runs["bare pipeline"])
    best = best_of([best_of(runs[connect_name(c)]) for c in configs])
    # The closest to Confluent's sink: plain JDBC batches (no UNNEST), when it was not best.
    plain = [best_of(runs[connect_name(c)]) for c in configs if not c.unnest]
    batching = best_of(plain) if plain and best_of(plain) is not best else None
    rounds = max(len(rs) for rs in runs.values())
    print()
    print(
        f"best Connect configuration (by first-to-last rate): {best.name}"
        + (f"; each run's best of {rounds} rounds" if rounds > 1 else "")
    )
    rate, connect_rate, bare_rate = (r.first_to_last_rate for r in (sync, best, bare))
    print(
        f"sync / Connect: first to last row {rate:,.0f}/s vs {connect_rate:,.0f}/s = "
        f"{rate / connect_rate:.2f}x; start to last row {sync.start_to_last:.1f}s vs "
        f"{best.start_to_last:.1f}s = {best.start_to_last / sync.start_to_last:.2f}x "
        "(target >= 0.8x)"
    )
    if rounds > 1:  # paired within each round: the machine's load moves between rounds
        for n in range(rounds):
            in_round = [runs[connect_name(c)][n] for c in configs if len(runs[connect_name(c)]) > n]
            if n >= len(runs["casebus sync"]) or not in_round:
                continue
            mine, theirs = runs["casebus sync"][n], best_of(in_round)
            print(
                f"  round {n + 1}: sync {mine.first_to_last_rate:,.0f}/s vs {theirs.name} "
                f"{theirs.first_to_last_rate:,.0f}/s = "
                f"{mine.first_to_last_rate / theirs.first_to_last_rate:.2f}x; CPU per row "
                f"{mine.window_cpu_us:.0f} vs {theirs.window_cpu_us:.0f} µs"
            )
    if batching is not None:
        batching_rate = batching.first_to_last_rate
        print(
            f"sync / Connect with JDBC batches ({batching.name}): first to last row "
            f"{rate:,.0f}/s vs {batching_rate:,.0f}/s = {rate / batching_rate:.2f}x; start to "
            f"last row {batching.start_to_last / sync.start_to_last:.2f}x"
        )
    print(
        f"sync / bare:    first to last row {rate:,.0f}/s vs {bare_rate:,.0f}/s = "
        f"{rate / bare_rate:.2f}x; own figures {sync.own_rate or 0:,.0f}/s vs "
        f"{bare.own_rate or 0:,.0f}/s = {(sync.own_rate or 0) / (bare.own_rate or 1):.2f}x"
    )
    print(
        f"peak PSS: sync {sync.pss_mb:.0f} MB (process and decode worker), bare "
        f"{bare.pss_mb:.0f} MB, Connect {best.pss_mb:.0f} MB (the JVM, -Xmx2G as shipped)"
    )
    print(
        f"CPU per row, first to last row: sync {sync.window_cpu_us:.0f} µs, bare "
        f"{bare.window_cpu_us:.0f} µs, Connect {best.window_cpu_us:.0f} µs (Connect / sync: "
        f"{best.window_cpu_us / sync.window_cpu_us:.2f}x); start-up included: sync "
        f"{sync.cpu_us:.0f} µs, Connect {best.cpu_us:.0f} µs"
    )
    summary = {
        name: [
            {
                "first_to_last": r.first_to_last_rate,
                "start_to_last_s": r.start_to_last,
                "cpu_us": r.cpu_us,
                "window_cpu_us": r.window_cpu_us,
            }
            for r in rs
        ]
        for name, rs in runs.items()
    }
    print("SUMMARY " + json.dumps({"events": sync.events, **summary}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=2000, help="the sync's")
    parser.add_argument(
        "--configs",
        default="500x1,1000x1,2000x1",
        help="Connect configurations, comma-separated BATCHxTASKS (batch.size, tasks.max), "
        "`r` after one for the driver's reWriteBatchedInserts, `u` for the sink's UNNEST inserts",
    )
    parser.add_argument("--rest-port", type=int, default=47083, help="Connect's REST listener")
    parser.add_argument(
        "--rounds", type=int, default=1, help="run everything this many times; the best of each"
    )
    args = parser.parse_args()
    configs = [ConnectConfig.parse(s) for s in args.configs.split(",")]
    print(f"broker: {choose_broker(False)}", flush=True)
    java = shutil.which("java")
    if java is None:
        raise SystemExit("no Java runtime (java) on PATH")
    if kafka_version(CONNECT_POM) != kafka_version():
        raise SystemExit(f"{CONNECT_POM}: kafka.version is not the broker's (config/kafka/pom.xml)")
    libs = fetched_libs(CONNECT_POM, "connect-jdbc-sink")
    print(f"Connect {kafka_version(CONNECT_POM)} and the JDBC sink from {libs}", flush=True)
    bench = Workspace.open("connect", PARTITIONS, args.batch_size, decode_worker=True)
    json_topic = f"bench.connect.{uuid.uuid4().hex[:8]}"
    try:
        fill(
            bench.bootstrap,
            bench.registry_url,
            bench.topics,
            args.events,
            bench.workdir,
            only_new_penalties=True,
        )
        settings = load_settings(kafka={"bootstrap": bench.bootstrap}, var_dir=bench.workdir)
        settings = settings.model_copy(
            update={"registry": settings.registry.model_copy(update={"url": bench.registry_url})}
        )
        bench.admin.create_topics([NewTopic(json_topic, PARTITIONS, 1)])
        copied = copy_as_json(
            settings, bench.topics["casebus.penalty"], json_topic, args.batch_size
        )
        assert copied == args.events, copied
        security = settings.kafka.security
        print(
            f"Connect's clients: {settings.kafka.bootstrap_servers} {security.protocol} "
            f"{security.mechanism if security.sasl else ''} as {admin_principal(settings)}",
            flush=True,
        )
        base = bench.base
        runs: dict[str, list[Run]] = {}
        for n in range(args.rounds):
            if args.rounds > 1:
                print(f"-- round {n + 1} of {args.rounds}", flush=True)
            for mode, table, name in (
                ("batched", "penalty_decisions", "casebus sync"),
                ("bare", "bare_penalties", "bare pipeline"),
            ):
                run = python_run(mode, table, base, args.events, name, bench.registry.pid)
                print_run(run)
                runs.setdefault(name, []).append(run)
            for config in configs:
                run = connect_run(
                    settings, json_topic, args.events, config, bench.workdir, args.rest_port, java
                )
                print_run(run)
                runs.setdefault(run.name, []).append(run)
    finally:
        bench.admin.delete_topics([json_topic])
        bench.close()
    report(runs, configs)


def print_run(run: Run) -> None:
    print(
        f"{run.name}: {run.events:,} rows, start to last row {run.start_to_last:.1f}s, first "
        f"to last row {run.first_to_last_rate:,.0f}/s; peak PSS {run.pss_mb:.0f} MB; CPU "
        f"{run.cpu_us:.0f} µs/row, first to last row {run.window_cpu_us:.0f} µs; "
        + "; ".join(run.notes),
        flush=True,
    )


if __name__ == "__main__":
    main()
