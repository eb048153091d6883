"""Engines for agency databases, and the migrations run at start."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from agencydb.types import json_text

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest migration's revision: each is named for its number, one after another (a test
# holds alembic's own head to it). A database already there is not handed to alembic, which
# a long-running sync then never imports (11 MB of the process's memory).
HEAD_REVISION = max(p.name[:4] for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
_MIGRATION_LOCK = 0x63617365_62757301  # "casebus" 1: the advisory lock key of migrations


def sqlite_file(url: URL) -> str | None:
    """The file of a SQLite URL; None for another database, or one in memory."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return str(url.database)


def make_engine(url: str, *, sync_writer: bool = False, **options: Any) -> Engine:
    """An engine for an agency database; SQLite files get WAL and synchronous=NORMAL.

    WAL with synchronous=NORMAL keeps every commit atomic and durable against a process
    crash (the only crash the offsets-in-the-database checkpoint must survive here).
    `sync_writer`: the sync consumer's engine (see _writer_pragmas).
    """
    parsed = make_url(url)
    options.setdefault("json_serializer", json_text)  # as the bulk writes store JSON
    if parsed.get_backend_name() == "sqlite":
        if (file := sqlite_file(parsed)) is not None:
            Path(file).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        if sync_writer:
            event.listen(engine, "connect", _writer_pragmas)
        return engine
    options.setdefault("pool_pre_ping", True)
    return create_engine(url, **options)


def database_exists(url: str) -> bool:
    """Whether there is a database to read: a SQLite file must exist (make_engine would
    create an empty one); a server database is assumed to, and fails on connect if not."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return True
    file = sqlite_file(parsed)
    return file is not None and Path(file).is_file()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _writer_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """The sync's writes: checkpoints are left to a thread of the writer's (agencydb/wal.py),
    and a page cache of 4 MB (default 2 MB) for the index pages of a growing event log.
    Each of the engine's connections fills its own: at 16 MB, live sync's peak PSS grew
    from 242 MB at 200,000 events to 285 MB at 2,000,000 (bench/replay.py); at 4 MB,
    227 against 237–243 MB at 200,000 and the same speed within 2% (alternating)."""
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.execute("PRAGMA cache_size=-4000")
    cursor.close()


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


class MigrationFailed(RuntimeError):
    """A migration run in a child process failed (the child's error as its message)."""


def migrate(engine: Engine) -> None:
    """`alembic upgrade head` on this database, through alembic's API (unless it is at head).

    A process that has no thread but its own yet (`casebus replay --fresh`, which migrates
    a new database for every rebuild) runs it in a forked child, so that alembic and the
    modules it brings (mako, pygments: 10 MB) never load where the rebuild then runs. With
    threads, forking is unsafe, and a database in memory is the process's own: it runs here."""
    with engine.connect() as conn:
        if _revision(conn) == HEAD_REVISION:
            return
    in_memory = engine.url.get_backend_name() == "sqlite" and sqlite_file(engine.url) is None
    if threading.active_count() == 1 and hasattr(os, "fork") and not in_memory:
        _upgrade_in_child(engine)
    else:
        _upgrade(engine)


def _upgrade_in_child(engine: Engine) -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: new connections of its own, and no exit handlers of the parent
        os.close(read)
        code = 0
        try:
            engine.dispose(close=False)
            _upgrade(engine)
        except BaseException as exc:
            os.write(write, f"{type(exc).__name__}: {exc}".encode()[:16_000])
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        message = pipe.read().decode("utf-8", "replace")
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    engine.dispose()  # connections opened before the migration: none kept
    if code != 0:
        ended = f"killed by signal {-code}" if code < 0 else f"exited with {code}"
        raise MigrationFailed(
            f"migrating {engine.url.render_as_string(hide_password=True)}: "
            + (message or f"the migrating process was {ended}")
        )


def _upgrade(engine: Engine) -> None:
    from alembic import command

    config = alembic_config()
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per plugin otherwise
    with _one_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            # Several sync processes of one agency may start at once: one migrates, the
            # others wait for it and then find the database at head.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    log.debug("database %s at head", engine.url.render_as_string(hide_password=True))


@contextmanager
def _one_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection whose every statement, DDL included, is in one transaction, committed
    at the end: a process killed mid-migration leaves the database as it was.

    PostgreSQL's DDL is transactional as it is. SQLite's is too, but its Python driver
    begins a transaction only before a DML statement and runs DDL outside any: a sync
    killed while it created a new database's tables left them without alembic's version
    row, and every start after it failed on "table ... already exists". So for SQLite the
    driver's own transaction handling is turned off and the transaction is opened here,
    with BEGIN IMMEDIATE (the write lock at once: processes starting together migrate one
    after another, the later ones finding the database at head)."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    own = create_engine(engine.url, poolclass=NullPool)
    event.listen(own, "connect", _sqlite_pragmas)
    event.listen(own, "connect", _driver_transactions_off)
    event.listen(own, "begin", _begin_immediate)
    try:
        with own.begin() as conn:
            yield conn
    finally:
        own.dispose()


def _driver_transactions_off(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # pysqlite: no implicit BEGIN (nor implicit COMMIT)


def _begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _revision(conn: Connection) -> str | None:
    """The database's migration revision (None: none yet)."""
    if not conn.dialect.has_table(conn, "alembic_version"):
        return None
    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def open_database(url: str, *, sync_writer: bool = False, **options: Any) -> Engine:
    """Engine for `url`, migrated to head."""
    engine = make_engine(url, sync_writer=sync_writer, **options)
    migrate(engine)
    return engine


class DatabaseInUse(RuntimeError):
    """A second sync process for a database that takes only one."""


@contextmanager
def single_writer(url: str) -> Iterator[int | None]:
    """Hold the sync's lock of a SQLite file for as long as the sync runs.

    SQLite takes one writer at a time, so an agency on SQLite runs one sync process; a
    second one is refused here (with the holder's pid) instead of queueing on the file.
    PostgreSQL takes any number of processes of one group: no lock. Yields the lock's file
    descriptor (None: no lock), which a forked worker must close (pipeline/decode_worker.py):
    a worker outliving a killed parent would otherwise hold the lock a moment longer."""
    file = sqlite_file(make_url(url))
    if file is None:
        yield None
        return
    path = Path(f"{file}.sync-lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise DatabaseInUse(
                f"{file} is already synced by another process (pid {holder}): "
                "a SQLite database takes one sync process; use PostgreSQL to run several"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield fd
    finally:
        os.close(fd)  # releases the lock
