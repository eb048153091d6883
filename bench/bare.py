"""The bare pipeline of issue 14: what kafka-python, fastavro and the database driver cost
at least, measured beside the sync by bench/sync.py (see its docstring).

Poll a batch of the penalty topic (assigned, no group), strip each value's Confluent header
and read it with the writer schema fetched once, flatten 15 scalar columns, write the batch
into one table without keys or indexes (PostgreSQL: COPY; SQLite: executemany), commit.
"""

from __future__ import annotations

import io
import json
import time
from datetime import date, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any, cast

from sqlalchemy.engine import make_url

from casebus.config import Settings

Row = tuple[Any, ...]

# The 15 scalar columns it keeps of a penalty event: the envelope's, then the decision's.
BARE_ENVELOPE = ("owner", "record_id", "revision", "event_type", "case_id", "region", "occurred_at")
BARE_PENALTY = (
    "decision_no",
    "decision_date",
    "party_name",
    "party_uscc",
    "violation_type",
    "fine_amount",
    "confiscated_amount",
    "authority_name",
)
BARE_COLUMNS = ", ".join(BARE_ENVELOPE + BARE_PENALTY)
# No key and no index: the least a write can cost (the sync's tables have both).
BARE_DDL = """
CREATE TABLE bare_penalties (
    owner TEXT, record_id TEXT, revision BIGINT, event_type TEXT, case_id TEXT, region TEXT,
    occurred_at TIMESTAMP WITH TIME ZONE, decision_no TEXT, decision_date DATE,
    party_name TEXT, party_uscc TEXT, violation_type TEXT, fine_amount NUMERIC(18, 6),
    confiscated_amount NUMERIC(18, 6), authority_name TEXT
)
"""
_envelope_of = itemgetter(*BARE_ENVELOPE)
_penalty_of = itemgetter(*BARE_PENALTY)


def flatten(event: dict[str, Any]) -> Row:
    return _envelope_of(event) + _penalty_of(event["penalty"])


class BareTable:
    """The flat table, written through the driver's own connection, one commit per batch.
    The engine only connects: make_engine gives the sync writer's connection settings (on
    SQLite WAL, synchronous=NORMAL, its page cache; checkpoints in a thread, as the sync)."""

    def __init__(self, url: str) -> None:
        from agencydb.engine import make_engine
        from agencydb.wal import WalFlusher

        self.engine = make_engine(url, sync_writer=True)
        self._proxy = self.engine.raw_connection()
        driver = self._proxy.driver_connection
        assert driver is not None  # checked out of the pool: connected
        self.db: Any = driver  # sqlite3.Connection or psycopg.Connection
        cursor = self.db.cursor()
        cursor.execute(BARE_DDL)
        cursor.close()
        self.db.commit()
        self.checkpointer = WalFlusher.for_engine(self.engine)

    def write(self, rows: list[Row]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self._proxy.close()
        self.engine.dispose()


class SqliteTable(BareTable):
    INSERT = f"INSERT INTO bare_penalties ({BARE_COLUMNS}) VALUES ({', '.join('?' * 15)})"

    def __init__(self, url: str) -> None:
        import sqlite3

        # sqlite3 has no adapter for Decimal, and its date ones are deprecated (3.12).
        sqlite3.register_adapter(Decimal, str)
        sqlite3.register_adapter(date, date.isoformat)
        sqlite3.register_adapter(datetime, datetime.isoformat)
        super().__init__(url)

    def write(self, rows: list[Row]) -> None:
        self.db.executemany(self.INSERT, rows)
        self.db.commit()


class PostgresTable(BareTable):
    COPY = f"COPY bare_penalties ({BARE_COLUMNS}) FROM STDIN"

    def write(self, rows: list[Row]) -> None:
        with self.db.cursor() as cursor, cursor.copy(self.COPY) as copy:
            for row in rows:
                copy.write_row(row)
        self.db.commit()


def open_bare_table(url: str) -> BareTable:
    postgres = make_url(url).get_backend_name() == "postgresql"
    return PostgresTable(url) if postgres else SqliteTable(url)


def writer_schema(settings: Settings, topic: str, principal: str) -> Any:
    """The parsed schema `topic`'s values were written with, fetched once (the subject's
    latest: the fill registered one schema per topic)."""
    from fastavro import parse_schema

    from casebus.registry.client import registry_for

    registry = registry_for(settings, principal)
    try:
        return parse_schema(json.loads(registry.latest(f"{topic}-value").schema))
    finally:
        registry.close()


def penalty_reader(
    settings: Settings, topic: str, batch_size: int, principal: str
) -> tuple[Any, int]:
    """A consumer as the sync's (options, principal, max records a poll), assigned the
    penalty topic from its start without a group, and the number of records it holds."""
    from kafka import TopicPartition

    from casebus.kafka.clients import make_consumer

    consumer = make_consumer(
        settings, None, "bench-bare", principal=principal, max_poll_records=batch_size
    )
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    starts, ends = consumer.beginning_offsets(parts), consumer.end_offsets(parts)
    return consumer, sum(ends[tp] - starts[tp] for tp in parts)


def run_bare(settings: Settings, base: dict[str, Any], principal: str) -> dict[str, Any]:
    """Poll a batch, decode, flatten and write it, until the penalty topic is all written;
    timed per stage per batch (a clock read per event would weigh on a loop this thin)."""
    from fastavro import schemaless_reader

    from casebus.gctune import batch_gc
    from casebus.serde.framing import HEADER_SIZE
    from pipeline.settings import SyncTuning

    batch_size = SyncTuning.of(settings).batch_size
    topic = base["topics"]["casebus.penalty"]
    schema = writer_schema(settings, topic, principal)
    table = open_bare_table(base["db_url"])
    consumer, total = penalty_reader(settings, topic, batch_size, principal)

    def decode(value: bytes) -> dict[str, Any]:
        body = io.BytesIO(value)
        body.seek(HEADER_SIZE)  # the Confluent header: magic byte and schema id
        return cast(dict[str, Any], schemaless_reader(body, schema, None))  # a record schema

    stages = dict.fromkeys(("poll", "decode", "flatten", "write"), 0.0)
    done = 0
    started = time.monotonic()
    with batch_gc():  # the collector as the sync's loop has it
        while done < total:
            t0 = time.perf_counter()
            polled = consumer.poll(timeout_ms=1000, max_records=batch_size)
            t1 = time.perf_counter()
            events = [decode(r.value) for records in polled.values() for r in records]
            t2 = time.perf_counter()
            rows = [flatten(event) for event in events]
            t3 = time.perf_counter()
            if rows:
                table.write(rows)
            t4 = time.perf_counter()
            for stage, seconds in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                stages[stage] += seconds
            done += len(rows)
    seconds = time.monotonic() - started
    consumer.close()
    table.close()
    return {"events": done, "seconds": seconds, "counts": {"written": done}, "stages": stages}
