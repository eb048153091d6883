"""Event signatures: who signed a Kafka record, and that nothing of it changed since.

The signature (Ed25519) covers the shared topic's name, the key, the framed value and every
header before it, each length-prefixed, so no part can be moved into another: a signature
made for casebus.lead does not verify on casebus.penalty, and one copied from another event
does not verify at all. It travels in two headers, appended last: `casebus.key-id` (the
signing key's fingerprint, see keys.key_id_of) and `casebus.signature` (64 bytes).

A consumer checks in two steps: `Verifier.check_record` before decoding (headers, key,
signature), `Verifier.check_signer` after it (the signer is the event's `owner` and the key
was valid when the event was published).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from casebus.config import TrustedKey
from casebus.provenance.keys import SigningKey, public_key_of

KEY_ID_HEADER = "casebus.key-id"
SIGNATURE_HEADER = "casebus.signature"
_DOMAIN = b"casebus.event.v1"
_NONE = struct.pack(">i", -1)
_pack = struct.Struct(">i").pack

Headers = Sequence[tuple[str, bytes]]


def signed_bytes(topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> bytes:
    """What is signed: every part length-prefixed, so none can be shifted into another."""
    parts = [_DOMAIN, _field(topic.encode()), _field(key), _field(value), _pack(len(headers))]
    for name, data in headers:
        parts.append(_field(name.encode()))
        parts.append(_field(data))
    return b"".join(parts)


def _field(data: bytes | None) -> bytes:
    return _NONE if data is None else _pack(len(data)) + data


class Signer:
    """Signs records as one owner (connectors, ingest) or as the feeds service."""

    def __init__(self, key: SigningKey) -> None:
        self.key = key
        self._key_id = (KEY_ID_HEADER, key.key_id.encode())

    @property
    def owner(self) -> str:
        return self.key.owner

    def sign(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers
    ) -> list[tuple[str, bytes]]:
        """`headers` with the key id and the signature appended. `topic`: the shared name."""
        signed = [*headers, self._key_id]
        signature = self.key.private.sign(signed_bytes(topic, key, value, signed))
        signed.append((SIGNATURE_HEADER, signature))
        return signed


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a record is not trusted: `reason` is the DLQ error class, `message` the detail."""

    reason: str  # Unsigned, UnknownKey, RevokedKey, BadSignature, SignedForAnotherTopic,
    #              KeyNotValid, WrongSigner
    message: str


class Verifier:
    """Checks signatures against the trust list. `topics`: the other shared topic names a
    signature may have been made for (only to name the topic in a refusal)."""

    def __init__(self, trusted: Sequence[TrustedKey], topics: Sequence[str] = ()) -> None:
        self._keys: dict[bytes, tuple[TrustedKey, Ed25519PublicKey]] = {
            e.key_id.encode(): (e, public_key_of(e)) for e in trusted
        }
        self._topics = tuple(topics)

    def check_record(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers
    ) -> TrustedKey | Refusal:
        """The trusted key that signed this record, or why it is refused. `topic`: the
        shared name of the topic it was read from."""
        if len(headers) < 2 or headers[-1][0] != SIGNATURE_HEADER:
            return Refusal("Unsigned", "the record has no casebus.signature header")
        (id_name, key_id), (_, signature) = headers[-2], headers[-1]
        if id_name != KEY_ID_HEADER:
            return Refusal("Unsigned", "the record has no casebus.key-id before its signature")
        found = self._keys.get(key_id)
        if found is None:
            shown = key_id.decode(errors="replace")[:64]
            return Refusal("UnknownKey", f"key {shown} is not in the trust list")
        entry, public = found
        if entry.revoked:
            why = f": {entry.revoked_reason}" if entry.revoked_reason else ""
            return Refusal("RevokedKey", f"key {entry.key_id} of {entry.owner} is revoked{why}")
        signed = headers[:-1]
        if _valid(public, signature, signed_bytes(topic, key, value, signed)):
            return entry
        for other in self._topics:
            if other != topic and _valid(
                public, signature, signed_bytes(other, key, value, signed)
            ):
                return Refusal(
                    "SignedForAnotherTopic", f"signed by {entry.owner} for {other}, read on {topic}"
                )
        return Refusal(
            "BadSignature", f"the signature of key {entry.key_id} ({entry.owner}) does not match"
        )

    @staticmethod
    def check_signer(entry: TrustedKey, owner: object, published_at: object) -> Refusal | None:
        """None if `entry` may sign for `owner` at `published_at`, else why not."""
        if entry.owner != owner:
            return Refusal(
                "WrongSigner", f"signed by {entry.owner}'s key, but the event's owner is {owner}"
            )
        if not isinstance(published_at, datetime):
            return Refusal("KeyNotValid", "the event has no published_at to check the key at")
        if not entry.not_before <= published_at <= entry.not_after:
            return Refusal(
                "KeyNotValid",
                f"published {published_at.isoformat()}, outside key {entry.key_id}'s validity "
                f"{entry.not_before.isoformat()} – {entry.not_after.isoformat()}",
            )
        return None


def _valid(public: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        public.verify(signature, data)
    except InvalidSignature:
        return False
    return True
