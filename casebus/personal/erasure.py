"""Erasure by destroying keys (crypto-shredding): `casebus personal erase --subject ID`.

Every data key that sealed the person's values, of every owner, is deleted from the key
store, and the person's subject is marked so that no new key is made for it. The events on
the topics are not touched: their bytes, signatures and the agencies' audit chains stay as
they were, but no consumer, replay or rebuild can open those values again. The erasure is
recorded in the key store (what: the subject's reference and the key ids, never the
identity number itself; when; by whom; why), signed with the erasing agency's signing key,
and each agency database carries it out at its next sync or replay (agencydb/erasure.py).
"""

from __future__ import annotations

import base64
import logging
from dataclasses import replace
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature

from casebus.config import Settings
from casebus.personal.keystore import Erasure, KeyStore, erasure_body
from casebus.provenance.keys import load_signing_key, public_key_of, trust_list

log = logging.getLogger(__name__)


def erase(settings: Settings, subject: str, *, by: str, agency: str, reason: str = "") -> Erasure:
    """Destroy the person's data keys; the signed erasure record. `agency` signs it (its
    signing key must be here); `by` names the person who asked for it."""
    signer = load_signing_key(settings, agency)  # MissingKey before anything is destroyed
    keys = KeyStore.of(settings)
    ref, key_ids = keys.destroy(subject)
    erased_at = datetime.now(UTC).isoformat()
    erased_by = f"{by} ({agency})"
    body = erasure_body(ref, key_ids, erased_at, erased_by, reason)
    signature = base64.b64encode(signer.private.sign(body)).decode("ascii")
    record = Erasure(0, ref, tuple(key_ids), erased_at, erased_by, reason, signer.key_id, signature)
    number = keys.record_erasure(record)
    log.warning(
        "erasure %d: %d data keys destroyed (subject %s…) by %s",
        number,
        len(key_ids),
        ref[:12],
        erased_by,
        extra={"outcome": "erased"},
    )
    return replace(record, id=number)


def verify(settings: Settings, erasure: Erasure) -> bool:
    """The record is as its signer signed it (a key of the trust list)."""
    for key in trust_list(settings):
        if key.key_id != erasure.signed_by:
            continue
        try:
            public_key_of(key).verify(base64.b64decode(erasure.signature), erasure.body())
        except InvalidSignature:
            return False
        return True
    return False
