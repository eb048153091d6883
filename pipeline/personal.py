"""Personal fields in an agency's sink: the opener its rows are built with, and the
erasures carried out on its database when a sink opens (sync, replay, redrive)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import Engine

from agencydb.erasure import carry_out
from agencydb.rows import RowBuilder
from casebus.config import Settings
from casebus.personal.access import Readers
from casebus.personal.cipher import Opener
from casebus.personal.keystore import Keys, keys_for

log = logging.getLogger(__name__)


def opener_for(settings: Settings, agency: str, principal: str | None = None) -> Opener:
    """Opens what `agency` may read; never makes a key-encryption key. With key services
    configured, asks them as `principal` (default: the agency's sync) for `agency`."""
    return Opener(agency, Readers(settings), keys_for(settings, principal=principal, reader=agency))


def carry_out_erasures(
    engine: Engine, settings: Settings, rows: RowBuilder, keys: Keys | None = None
) -> int:
    """Mark, in this database, every value whose data key an erasure destroyed since the
    database last looked; the number of records changed. On SQLite the old values' bytes
    are overwritten in the file and its write-ahead log; PostgreSQL keeps dead row versions
    until a VACUUM FULL of the table (docs/personal-data.md)."""
    erasures = (keys or keys_for(settings)).erasures()
    if not erasures:
        return 0
    sqlite = engine.dialect.name == "sqlite"
    with engine.begin() as conn:
        if sqlite:  # the freed bytes of the old values are overwritten, not left in the file
            conn.exec_driver_sql("PRAGMA secure_delete = ON")
        changed = carry_out(
            conn, {e.identity: frozenset(e.key_ids) for e in erasures}, rows, datetime.now(UTC)
        )
    if changed and sqlite:
        with engine.connect() as conn:  # and the write-ahead log's copies of the old pages
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    if changed:
        log.info("erasures: %d records' personal values replaced with the erasure marker", changed)
    return changed
