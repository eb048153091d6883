"""Migrations at start: a new database is migrated to head; one at head is left to itself,
without alembic even imported (a long-running sync does not carry it)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text

from agencydb.engine import HEAD_REVISION, alembic_config, open_database
from tests.fixtures.snippets import run_snippet


@pytest.mark.offline
def test_the_head_revision_is_alembics() -> None:
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION


def _revision(conn: Connection) -> str | None:
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _assert_new_at_head(engine: Engine) -> None:
    """At the newest migration, and nothing logged yet."""
    with engine.connect() as conn:
        assert _revision(conn) == HEAD_REVISION
        assert conn.execute(text("SELECT count(*) FROM event_log")).scalar() == 0


_OPEN = """
import sys, threading
from agencydb.engine import open_database
if sys.argv[2] == "thread":  # another thread running: the migration runs in this process
    threading.Thread(target=threading.Event().wait, daemon=True).start()
open_database(sys.argv[1]).dispose()
print("alembic" in sys.modules)
"""


def _opened_with_alembic(url: str, threads: str = "thread") -> bool:
    """Whether a new process opening the database imported alembic."""
    return run_snippet(_OPEN, url, threads) == "True"


def _one_behind(engine: Engine) -> None:
    from alembic import command

    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, f"{int(HEAD_REVISION) - 1:04d}")


def test_a_new_database_is_migrated_and_one_at_head_opens_without_alembic(
    local_db_url: str,
) -> None:
    assert _opened_with_alembic(local_db_url)  # new: migrated
    engine = open_database(local_db_url)
    try:
        _assert_new_at_head(engine)
        assert not _opened_with_alembic(local_db_url)
        _one_behind(engine)  # alembic brings it to head
        assert _opened_with_alembic(local_db_url)
        with engine.connect() as conn:
            assert _revision(conn) == HEAD_REVISION
    finally:
        engine.dispose()


def test_a_process_with_no_other_thread_migrates_in_a_child_and_never_loads_alembic(
    local_db_url: str,
) -> None:
    assert not _opened_with_alembic(local_db_url, "alone")
    engine = open_database(local_db_url)
    try:
        _assert_new_at_head(engine)
        _one_behind(engine)
        assert not _opened_with_alembic(local_db_url, "alone")
        with engine.connect() as conn:
            assert _revision(conn) == HEAD_REVISION
    finally:
        engine.dispose()


@pytest.mark.offline
def test_a_migration_failing_in_the_child_names_the_rule_it_broke(tmp_path: Path) -> None:
    file = tmp_path / "agency.sqlite"
    with sqlite3.connect(file) as conn:  # a table of the first migration's, made by hand
        conn.execute("CREATE TABLE case_links (x INTEGER)")
    with pytest.raises(subprocess.CalledProcessError) as failed:
        run_snippet(_OPEN, f"sqlite:///{file}", "alone")
    assert "MigrationFailed" in failed.value.stderr
    assert "table case_links already exists" in failed.value.stderr


_KILLED_MIGRATING = """
import os, signal, sys, threading
from alembic.operations import Operations

made = 0
create_table = Operations.create_table


def create_then_die(self, *args, **kwargs):
    global made
    made += 1
    if made == int(sys.argv[2]):  # some tables made, more to come: killed here
        os.kill(os.getpid(), signal.SIGKILL)
    return create_table(self, *args, **kwargs)


Operations.create_table = create_then_die
if sys.argv[3] == "thread":  # the migration runs in this process
    threading.Thread(target=threading.Event().wait, daemon=True).start()
from agencydb.engine import open_database
open_database(sys.argv[1])
"""


@pytest.mark.offline
@pytest.mark.parametrize(("tables", "threads"), [(2, "thread"), (6, "thread"), (12, "alone")])
def test_a_process_killed_while_it_migrates_leaves_nothing_half_made(
    tmp_path: Path, tables: int, threads: str
) -> None:
    """SQLite: killed after some of a new database's tables were created (the 12th is
    migration 0003's), the next start migrates it to head as if new. Alone, the process
    migrates in a child: the child is killed, the process reports it."""
    url = f"sqlite:///{tmp_path / 'agency.sqlite'}"
    with pytest.raises(subprocess.CalledProcessError) as killed:
        run_snippet(_KILLED_MIGRATING, url, str(tables), threads)
    if threads == "thread":
        assert killed.value.returncode == -signal.SIGKILL
    else:
        assert "the migrating process was killed by signal 9" in killed.value.stderr
    engine = open_database(url)
    try:
        _assert_new_at_head(engine)
    finally:
        engine.dispose()
