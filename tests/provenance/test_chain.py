"""The event-log chain and `audit verify`'s database checks, offline (SQLite and
PostgreSQL, no broker): the heads are given as published."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text

from agencydb.chain import read_head
from agencydb.engine import open_database
from casebus.config import Settings, load_settings
from pipeline.apply import apply_batch
from pipeline.heads import PublishedHead
from pipeline.items import Decoded, Provenance
from services.audit.verify import AuditReport, verify
from tests.provenance.helpers import rehash
from tests.sync.helpers import lead, penalty

AGENCY = "500110-SAMR"


@pytest.fixture
def engine(local_db_url: str) -> Iterator[Engine]:
    engine = open_database(local_db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings() -> Settings:
    return load_settings()


def _apply(engine: Engine, events: list[dict[str, object]], start: int = 0) -> None:
    items = [
        Decoded(Provenance("casebus.penalty", 0, start + i, 1), e) for i, e in enumerate(events)
    ]
    with engine.begin() as conn:
        apply_batch(conn, items)


def _published(engine: Engine) -> PublishedHead:
    with engine.connect() as conn:
        head = read_head(conn)
    assert head is not None
    now = datetime.now(UTC).isoformat()
    return PublishedHead(AGENCY, head.chain_id, head.position, head.hash, head.rows, now)


def _filled(engine: Engine) -> list[PublishedHead]:
    _apply(engine, [penalty("P-1"), penalty("P-2"), lead("L-1", items=2)])
    first = _published(engine)
    _apply(engine, [penalty("P-1", 2), penalty("P-1", 1), lead("L-1", 2, items=3)], start=3)
    return [first, _published(engine)]


def _verify(settings: Settings, engine: Engine, heads: list[PublishedHead]) -> AuditReport:
    return verify(settings, AGENCY, engine, heads=heads)


def _edit(engine: Engine, sql: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql))


def test_a_clean_database_verifies(settings: Settings, engine: Engine) -> None:
    heads = _filled(engine)
    report = _verify(settings, engine, heads)
    assert report.ok, report.problems
    assert (report.rows, report.records, report.heads_matched) == (6, 3, 2)


def test_an_updated_record_row_is_named(settings: Settings, engine: Engine) -> None:
    heads = _filled(engine)
    _edit(engine, "UPDATE penalty_decisions SET fine_amount = '0.000000' WHERE record_id = 'P-2'")
    _edit(engine, "DELETE FROM lead_items WHERE record_id = 'L-1' AND position = 2")
    report = _verify(settings, engine, heads)
    assert len(report.problems) == 2, report.problems
    assert "penalty 510500-SAMR/P-2" in report.problems[0] + report.problems[1]
    assert any("/L-1" in p and "edited by hand" in p for p in report.problems)


def test_a_deleted_log_row_breaks_the_chain_after_it(settings: Settings, engine: Engine) -> None:
    heads = _filled(engine)
    _edit(engine, "DELETE FROM event_log WHERE id = 3")
    (problem,) = [p for p in _verify(settings, engine, heads).problems if "position" in p][:1]
    assert problem.startswith("event log position 4:")


def test_an_updated_log_row_is_named(settings: Settings, engine: Engine) -> None:
    heads = _filled(engine)
    _edit(engine, "UPDATE event_log SET outcome = 'applied', detail = NULL WHERE id = 5")
    report = _verify(settings, engine, heads)
    assert report.problems[0].startswith("event log position 5:"), report.problems


def test_a_rewritten_chain_no_longer_matches_the_published_heads(
    settings: Settings, engine: Engine
) -> None:
    """Edit a row and recompute every hash after it, and the head: the chain is sound in
    itself, but the heads published before say otherwise."""
    heads = _filled(engine)
    _edit(engine, "UPDATE event_log SET detail = 'nothing to see' WHERE id = 2")
    with engine.begin() as conn:
        rehash(conn)
    report = _verify(settings, engine, heads)
    assert not any(p.startswith("event log position") for p in report.problems)
    assert any("published head at position 3" in p and "rewritten" in p for p in report.problems)
    # Nor can a fresh chain id pass for the published one.
    _edit(engine, "UPDATE audit_head SET chain_id = 'ffffffffffffffffffffffffffffffff'")
    assert any("is of chain" in p for p in _verify(settings, engine, heads).problems)


def test_no_published_head_is_a_problem(settings: Settings, engine: Engine) -> None:
    _filled(engine)
    assert any("no head" in p for p in _verify(settings, engine, []).problems)
