"""A new database for a rebuild, and the atomic swap that puts it in place.

SQLite: the rebuild is written to `<file>.rebuild` (synchronous=OFF: a crash just leaves a
file the next run deletes), then made one file and renamed over the database; the previous
database stays as `<file>.previous` (a hard link taken before the rename, so the database's
path never stops existing). PostgreSQL: the rebuild is written to the schema
`casebus_rebuild` of the same database, then one transaction renames `public` to
`casebus_previous` and `casebus_rebuild` to `public`. Until the swap, the old database is
untouched: a crash midway leaves it as it was, and a rerun starts the rebuild over.

The event log's secondary indexes (one row per event read: the rebuild's largest table) are
dropped while the rebuild loads and built again before it is put in place: one sorted build
costs less than keeping four indexes up to date row by row, and nothing in the load reads
them (the unique DLQ position is a redrive's, and a rebuild redrives nothing).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from agencydb.engine import open_database
from agencydb.rows import EVENT_LOG

log = logging.getLogger(__name__)

REBUILD_SCHEMA, PREVIOUS_SCHEMA = "casebus_rebuild", "casebus_previous"


@dataclass
class Rebuild:
    target: str  # the database being rebuilt
    url: str  # where the rebuild is written
    engine: Engine
    schema: str | None = None  # PostgreSQL: the rebuild's schema

    def swap(self) -> str:
        """Put the rebuild in place of the target, the indexes `start_rebuild` left out
        built first; where the previous database is kept."""
        with self.engine.begin() as conn:
            for index in _DEFERRED:
                index.create(conn)
        self.engine.dispose()
        if self.schema is None:
            return _swap_files(Path(_path(self.url)), Path(_path(self.target)))
        return _swap_schemas(self.target)

    def discard(self) -> None:
        self.engine.dispose()
        if self.schema is None:
            _remove(Path(_path(self.url)))
        else:
            _drop_schema(self.target, REBUILD_SCHEMA)


_DEFERRED = sorted(EVENT_LOG.indexes, key=lambda i: str(i.name))


def start_rebuild(target: str, *, scratch: str | None = None) -> Rebuild:
    """A new, migrated, empty database beside `target` (or at `scratch`, a SQLite URL),
    without the event log's secondary indexes (`Rebuild.swap` builds them)."""
    rebuild = _new_database(target, scratch)
    with rebuild.engine.begin() as conn:
        for index in _DEFERRED:
            index.drop(conn)
    return rebuild


def _new_database(target: str, scratch: str | None) -> Rebuild:
    parsed = make_url(target)
    if scratch is not None or parsed.get_backend_name() == "sqlite":
        url = scratch or f"sqlite:///{_path(target)}.rebuild"
        _remove(Path(_path(url)))  # what a crashed run left
        engine = open_database(url, sync_writer=True)
        event.listen(engine, "connect", _no_sync)
        engine.dispose()  # reconnect with the listener in place
        return Rebuild(target, url, engine)
    _drop_schema(target, REBUILD_SCHEMA)
    admin = create_engine(target)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {REBUILD_SCHEMA}")
    finally:
        admin.dispose()
    options = f"-c search_path={REBUILD_SCHEMA} -c synchronous_commit=off"
    engine = open_database(target, sync_writer=True, connect_args={"options": options})
    return Rebuild(target, target, engine, REBUILD_SCHEMA)


def _path(url: str) -> str:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ValueError(f"{url}: a rebuild needs a database file")
    return database


def _no_sync(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA synchronous=OFF")  # a crashed rebuild is thrown away anyway
    cursor.close()


def _single_file(path: Path) -> None:
    """Fold a SQLite file's WAL into it and leave it in rollback-journal mode."""
    if not path.exists():
        return
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


def _remove(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        p.unlink(missing_ok=True)


def _swap_files(rebuilt: Path, target: Path) -> str:
    _single_file(rebuilt)
    previous = Path(f"{target}.previous")
    _remove(previous)
    if target.exists():
        _single_file(target)  # no WAL of the old file may outlive it beside the new one
        os.link(target, previous)
    os.replace(rebuilt, target)
    log.info("rebuilt %s (previous kept as %s)", target, previous)
    return str(previous)


def _drop_schema(url: str, schema: str) -> None:
    admin = create_engine(url)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        admin.dispose()


def _swap_schemas(url: str) -> str:
    admin = create_engine(url)
    try:
        with admin.begin() as conn:  # one transaction: readers see the old or the new
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {PREVIOUS_SCHEMA} CASCADE")
            conn.exec_driver_sql(f"ALTER SCHEMA public RENAME TO {PREVIOUS_SCHEMA}")
            conn.exec_driver_sql(f"ALTER SCHEMA {REBUILD_SCHEMA} RENAME TO public")
    finally:
        admin.dispose()
    log.info("rebuilt %s (previous kept as schema %s)", url, PREVIOUS_SCHEMA)
    return f"schema {PREVIOUS_SCHEMA}"
