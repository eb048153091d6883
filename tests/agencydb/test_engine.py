"""Migrations at start: a new database is migrated to head; one at head is left to itself,
without alembic even imported (a long-running sync does not carry it)."""

from __future__ import annotations

import signal
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
import sys
from agencydb.engine import open_database
open_database(sys.argv[1]).dispose()
print("alembic" in sys.modules)
"""


def _opened_with_alembic(url: str) -> bool:
    """Whether a new process opening the database imported alembic."""
    return run_snippet(_OPEN, url) == "True"


def test_a_new_database_is_migrated_and_one_at_head_opens_without_alembic(
    local_db_url: str,
) -> None:
    assert _opened_with_alembic(local_db_url)  # new: migrated
    engine = open_database(local_db_url)
    try:
        _assert_new_at_head(engine)
        assert not _opened_with_alembic(local_db_url)
        from alembic import command

        config = alembic_config()
        with engine.begin() as conn:  # one migration behind: alembic brings it to head
            config.attributes["connection"] = conn
            command.downgrade(config, f"{int(HEAD_REVISION) - 1:04d}")
        assert _opened_with_alembic(local_db_url)
        with engine.connect() as conn:
            assert _revision(conn) == HEAD_REVISION
    finally:
        engine.dispose()


_KILLED_MIGRATING = """
import os, signal, sys
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
from agencydb.engine import open_database
open_database(sys.argv[1])
"""


@pytest.mark.offline
@pytest.mark.parametrize("tables", [2, 6, 12])
def test_a_process_killed_while_it_migrates_leaves_nothing_half_made(
    tmp_path: Path, tables: int
) -> None:
    """SQLite: killed after some of a new database's tables were created (the 12th is
    migration 0003's), the next start migrates it to head as if new."""
    url = f"sqlite:///{tmp_path / 'agency.sqlite'}"
    with pytest.raises(subprocess.CalledProcessError) as killed:
        run_snippet(_KILLED_MIGRATING, url, str(tables))
    assert killed.value.returncode == -signal.SIGKILL
    engine = open_database(url)
    try:
        _assert_new_at_head(engine)
    finally:
        engine.dispose()
