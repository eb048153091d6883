"""Event signatures: who signed a Kafka record, and that nothing of it changed since.

A record's hash covers the shared topic's name, the key, the framed value and every header
before its proof, each length-prefixed, so no part can be moved into another: a record
signed for casebus.lead does not verify on casebus.penalty. The signature (Ed25519) covers
the root of a batch of such hashes (batch.py): a producer signs a page of events at once,
a consumer verifies each batch's signature once. Three headers, appended last, carry it:
`casebus.key-id` (the key's fingerprint, keys.key_id_of), `casebus.proof` (the record's
path to the root) and `casebus.signature` (64 bytes).

A consumer checks in two steps: `Verifier.check_record` before decoding (headers, key,
path, signature), `Verifier.check_signer` after it (the signer is the event's `owner` and
the key was valid when the event was published).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from casebus.config import TrustedKey
from casebus.provenance import batch
from casebus.provenance.keys import SigningKey, public_key_of

KEY_ID_HEADER = "casebus.key-id"
PROOF_HEADER = "casebus.proof"
SIGNATURE_HEADER = "casebus.signature"
_DOMAIN = b"casebus.event.v1"
_ROOT = b"casebus.batch.v1"  # what the signature covers: this, then the batch's root
_NONE = struct.pack(">i", -1)
_pack = struct.Struct(">i").pack

Headers = Sequence[tuple[str, bytes]]
Record = tuple[str, bytes | None, bytes | None, Headers]  # shared topic, key, value, headers


def signed_bytes(topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> bytes:
    """What a record's hash covers: every part length-prefixed, so none can be shifted into
    another (a null as length -1). Inlined: it runs for every record consumed."""
    parts = [_DOMAIN]
    add = parts.append
    for data in (topic.encode(), key, value):
        if data is None:
            add(_NONE)
        else:
            add(_pack(len(data)))
            add(data)
    add(_pack(len(headers)))
    for name, data in headers:
        encoded = name.encode()
        add(_pack(len(encoded)))
        add(encoded)
        if data is None:
            add(_NONE)
        else:
            add(_pack(len(data)))
            add(data)
    return b"".join(parts)


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
        """`headers` with the key id, the path and the signature appended (a batch of one).
        `topic`: the shared name."""
        return self.sign_batch([(topic, key, value, headers)])[0]

    def sign_batch(self, records: Sequence[Record]) -> list[list[tuple[str, bytes]]]:
        """Each record's headers, signed: one signature per `batch.BATCH` records."""
        out: list[list[tuple[str, bytes]]] = []
        for start in range(0, len(records), batch.BATCH):
            chunk = records[start : start + batch.BATCH]
            signed = [[*headers, self._key_id] for _, _, _, headers in chunk]
            leaves = [
                batch.leaf(signed_bytes(topic, key, value, h))
                for (topic, key, value, _), h in zip(chunk, signed, strict=True)
            ]
            root, paths = batch.tree(leaves)
            signature = self.key.private.sign(_ROOT + root)
            for h, path in zip(signed, paths, strict=True):
                h.append((PROOF_HEADER, path))
                h.append((SIGNATURE_HEADER, signature))
                out.append(h)
        return out


# Every reason a signature check refuses a record for (metrics count refusals by it).
REFUSAL_REASONS = frozenset(
    {
        "Unsigned",
        "UnknownKey",
        "RevokedKey",
        "BadSignature",
        "SignedForAnotherTopic",
        "KeyNotValid",
        "WrongSigner",
    }
)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a record is not trusted: `reason` is the DLQ error class (one of
    REFUSAL_REASONS), `message` the detail."""

    reason: str  # Unsigned, UnknownKey, RevokedKey, BadSignature, SignedForAnotherTopic,
    #              KeyNotValid, WrongSigner
    message: str


class Verifier:
    """Checks signatures against the trust list. `topics`: the other shared topic names a
    signature may have been made for (only to name the topic in a refusal). Roots whose
    signature verified are remembered, so a batch costs one verification; `remember` at most
    (forgetting only means verifying again: one per batch of the whole topic grew a consumer
    by 10 MB per million events). In two generations, the older dropped when the newer is
    full: a batch's records arrive spread over its partitions' fetches. On bench/sync.py's
    200,000 new penalties (6,250 batches), forgetting 4,096 roots all at once verified
    10,715 signatures; two generations of 4,096, 6,400 (the check 17 µs an event, from 20–23)."""

    def __init__(
        self, trusted: Sequence[TrustedKey], topics: Sequence[str] = (), *, remember: int = 8_192
    ) -> None:
        self._keys: dict[bytes, tuple[TrustedKey, Ed25519PublicKey]] = {
            e.key_id.encode(): (e, public_key_of(e)) for e in trusted
        }
        self._topics = tuple(topics)
        # Key id, root, signature: the roots verified lately, and before that.
        self._verified: set[tuple[bytes, bytes, bytes]] = set()
        self._older: set[tuple[bytes, bytes, bytes]] = set()
        self._remember = remember // 2  # per generation
        self.verifications = 0  # signatures checked by the key (not found remembered)

    def check_record(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers
    ) -> TrustedKey | Refusal:
        """The trusted key that signed this record, or why it is refused. `topic`: the
        shared name of the topic it was read from."""
        if len(headers) < 3 or headers[-1][0] != SIGNATURE_HEADER:
            return Refusal("Unsigned", "the record has no casebus.signature header")
        (id_name, key_id), (path_name, path), (_, signature) = headers[-3:]
        if (id_name, path_name) != (KEY_ID_HEADER, PROOF_HEADER):
            return Refusal(
                "Unsigned",
                "the record has no casebus.key-id and casebus.proof before its signature",
            )
        found = self._keys.get(key_id)
        if found is None:
            shown = key_id.decode(errors="replace")[:64]
            return Refusal("UnknownKey", f"key {shown} is not in the trust list")
        entry, public = found
        if entry.revoked:
            why = f": {entry.revoked_reason}" if entry.revoked_reason else ""
            return Refusal("RevokedKey", f"key {entry.key_id} of {entry.owner} is revoked{why}")
        signed = headers[:-2]
        if self._root_signed(key_id, public, signature, path, topic, key, value, signed):
            return entry
        for other in self._topics:
            if other != topic and self._root_signed(
                key_id, public, signature, path, other, key, value, signed
            ):
                return Refusal(
                    "SignedForAnotherTopic", f"signed by {entry.owner} for {other}, read on {topic}"
                )
        return Refusal(
            "BadSignature", f"the signature of key {entry.key_id} ({entry.owner}) does not match"
        )

    def _root_signed(
        self,
        key_id: bytes,
        public: Ed25519PublicKey,
        signature: bytes,
        path: bytes,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers,
    ) -> bool:
        root = batch.root_of(batch.leaf(signed_bytes(topic, key, value, headers)), path)
        if root is None:
            return False
        seen = (key_id, root, signature)
        if seen in self._verified or seen in self._older:
            return True
        self.verifications += 1
        try:
            public.verify(signature, _ROOT + root)
        except InvalidSignature:
            return False
        if len(self._verified) >= self._remember:
            self._older, self._verified = self._verified, set()
        self._verified.add(seen)
        return True

    def trusted(self, key_id: str) -> TrustedKey:
        """The trust-list entry of a key `check_record` accepted (by its id)."""
        return self._keys[key_id.encode()][0]

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
