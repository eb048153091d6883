"""What the provenance tests share: keys of their own, and a chain rewritten by hand."""

from __future__ import annotations

import base64
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, select, text

from agencydb.chain import CHAINED, GENESIS, link
from agencydb.rows import EVENT_LOG
from casebus.config import TrustedKey
from casebus.provenance.keys import SigningKey, key_id_of
from casebus.provenance.signing import Signer


def new_key(
    owner: str, not_before: datetime, not_after: datetime, **entry: object
) -> tuple[Signer, TrustedKey]:
    """A key pair that is in no trust list: its signer and the entry that would trust it."""
    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    trusted = TrustedKey(
        key_id=key_id_of(public),
        owner=owner,
        public_key=base64.b64encode(public.public_bytes_raw()).decode(),
        not_before=not_before,
        not_after=not_after,
        **entry,
    )
    return Signer(SigningKey(owner, trusted.key_id, private)), trusted


def rehash(conn: Connection) -> None:
    """What an admin who knows the scheme would do: every hash and the head recomputed."""
    rows = conn.execute(
        select(EVENT_LOG.c.id, *(EVENT_LOG.c[n] for n in CHAINED)).order_by(EVENT_LOG.c.id)
    ).all()
    previous = GENESIS
    for row in rows:
        previous = link(previous, row[1:])
        conn.execute(EVENT_LOG.update().where(EVENT_LOG.c.id == row[0]).values(chain=previous))
    conn.execute(text("UPDATE audit_head SET hash = :h"), {"h": previous})
