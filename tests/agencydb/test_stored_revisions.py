"""SQLite's lookup of stored revisions: IN lists of a dozen lengths at most, each id's
record once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert

from agencydb.engine import open_database
from agencydb.models import Record
from agencydb.writes import stored_revisions

pytestmark = pytest.mark.offline


def _record(n: int) -> dict[str, Any]:
    now = datetime(2026, 12, 6, tzinfo=UTC)
    return {
        "kind": "penalty",
        "owner": "500110-SAMR",
        "record_id": f"R-{n:05d}",
        "revision": n % 7 + 1,
        "digest": f"{n:064x}",
        "event_type": "penalty.decided",
        "event_id": f"00000000-0000-4000-8000-{n:012d}",
        "case_id": f"CASE-{n // 10}",
        "region": "510500",
        "handling": "01",
        "shared_with": [],
        "occurred_at": now,
        "applied_at": now,
    }


def test_every_stored_record_is_found_once_through_a_dozen_statements(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'agency.sqlite'}")
    statements: set[str] = set()
    try:
        with engine.begin() as conn:
            conn.execute(insert(Record), [_record(n) for n in range(1_500)])
        event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, *_: statements.add(sql))
        with engine.connect() as conn:
            for size in range(1, 2_001, 7):
                ids = [f"R-{n:05d}" for n in range(size)]  # those past 1,499: not stored
                found = [(row.record_id, row.revision) for row in stored_revisions(conn, ids)]
                assert sorted(found) == [(f"R-{n:05d}", n % 7 + 1) for n in range(min(size, 1_500))]
    finally:
        engine.dispose()
    assert len(statements) <= 12  # not one for each length of a batch's last chunk
