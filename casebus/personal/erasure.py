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
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature

from casebus.config import Settings
from casebus.personal.keystore import Erasure, KeyStore, erasure_body
from casebus.personal.remote import KeyService, KeyServiceError, erasure_from
from casebus.provenance.keys import SigningKey, load_signing_key, public_key_of, trust_list
from casebus.security.principals import admin

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


@dataclass(frozen=True)
class RegionErasure:
    """What one region's key service did with an erasure: its record, or why not."""

    region: str
    erasure: Erasure | None
    error: str = ""


_PREPARE_ATTEMPTS = 3


def erase_in_regions(
    settings: Settings, subject: str, *, by: str, agency: str, reason: str = ""
) -> list[RegionErasure]:
    """With key services configured: erase the person in every region's service (they may
    have keys under owners of both), as the admin. Each service tells which keys it would
    destroy; `agency` signs that record here, as for the local store; the service checks the
    signature against its trust list, destroys exactly those keys and logs the record (if a
    key was made in between, it answers 409 and the record is prepared and signed again)."""
    signer = load_signing_key(settings, agency)  # MissingKey before anything is destroyed
    erased_by = f"{by} ({agency})"
    done = []
    for region, url in sorted(settings.key_services.items()):
        service = KeyService(region, url, admin(settings), settings)
        try:
            done.append(
                RegionErasure(region, _erase_at(service, signer, subject, erased_by, reason))
            )
        except KeyServiceError as exc:
            done.append(RegionErasure(region, None, str(exc)))
    return done


def _erase_at(
    service: KeyService, signer: SigningKey, subject: str, erased_by: str, reason: str
) -> Erasure:
    for _ in range(_PREPARE_ATTEMPTS):
        prepared = service.call("POST", "/erasures/prepare", json={"subject": subject}).json()
        key_ids, erased_at = list(prepared["key_ids"]), str(prepared["erased_at"])
        body = erasure_body(prepared["subject_ref"], key_ids, erased_at, erased_by, reason)
        request = {
            "subject": subject,
            "key_ids": key_ids,
            "erased_at": erased_at,
            "erased_by": erased_by,
            "reason": reason,
            "signed_by": signer.key_id,
            "signature": base64.b64encode(signer.private.sign(body)).decode("ascii"),
        }
        answer = service.call("POST", "/erasures", json=request, ok=(201, 409))
        if answer.status_code == 201:
            found = erasure_from(answer.json(), service.region)
            log.warning(
                "erasure %s: %d data keys destroyed in region %s by %s",
                found.label,
                len(found.key_ids),
                service.region,
                erased_by,
                extra={"outcome": "erased"},
            )
            return found
    raise KeyServiceError(
        f"key service of {service.region}: the person's keys kept changing during the erasure"
    )


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
