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
from casebus.personal.keystore import KeyStore

log = logging.getLogger(__name__)


def opener_for(settings: Settings, agency: str) -> Opener:
    """Opens what `agency` may read; never makes a key-encryption key."""
    return Opener(agency, Readers(settings), KeyStore.of(settings))


def carry_out_erasures(engine: Engine, settings: Settings, rows: RowBuilder) -> int:
    """Mark, in this database, every value whose data key an erasure destroyed since the
    database last looked; the number of records changed."""
    erasures = KeyStore.of(settings).erasures()
    if not erasures:
        return 0
    with engine.begin() as conn:
        changed = carry_out(
            conn, {e.id: frozenset(e.key_ids) for e in erasures}, rows, datetime.now(UTC)
        )
    if changed:
        log.info("erasures: %d records' personal values replaced with the erasure marker", changed)
    return changed
