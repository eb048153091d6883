"""Migrations at start: a new database is migrated to head; one at head is left to itself,
without alembic even imported (a long-running sync does not carry it)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from agencydb.engine import HEAD_REVISION, alembic_config, open_database
from tests.fixtures.snippets import run_snippet


@pytest.mark.offline
def test_the_head_revision_is_alembics() -> None:
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION


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
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            assert version == HEAD_REVISION
            assert conn.execute(text("SELECT count(*) FROM event_log")).scalar() == 0
        assert not _opened_with_alembic(local_db_url)
        from alembic import command

        config = alembic_config()
        with engine.begin() as conn:  # one migration behind: alembic brings it to head
            config.attributes["connection"] = conn
            command.downgrade(config, "0006")
        assert _opened_with_alembic(local_db_url)
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            assert version == HEAD_REVISION
    finally:
        engine.dispose()
