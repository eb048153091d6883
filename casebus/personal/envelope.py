"""A sealed personal value: AES-256-GCM under a data key, self-describing, in a string.

The field keeps its Avro type `string` (as Confluent's field-level encryption does for a
string field: base64 text of the ciphertext), so the contract, every walker over it and a
stock Avro client stay as they are, and a reader tells a sealed value by its prefix:

    casebus-fle1:<base64url of: version (1 byte) | key id (16 bytes) | nonce (12) | ciphertext+tag>

The associated data binds the value to its place: owner, record id and field path, so a
sealed value copied into another record or field does not open. The nonce is synthetic
(HMAC-SHA256 of the associated data and the plaintext under a key derived from the data key):
the same value of the same field of the same record seals to the same text, so an event
published again is still a duplicate, not a conflict; different plaintexts or places get
different nonces. What this reveals is only that one field of one record kept its value
between revisions.
"""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "casebus-fle1:"
VERSION = 1
KEY_ID_BYTES = 16
NONCE_BYTES = 12
DEK_BYTES = 32  # AES-256
_HEADER = 1 + KEY_ID_BYTES + NONCE_BYTES


# What an agency database stores in place of a value it cannot open.
ERASED = "[erased]"  # the person was erased: the data key is destroyed
UNREADABLE = "[unreadable]"  # sealed under a key that is not known, or does not open
MARKERS = frozenset({ERASED, UNREADABLE})


class EnvelopeError(ValueError):
    """Not a sealed value, or one that does not open under its key and place."""


@dataclass(frozen=True, slots=True)
class Sealed:
    key_id: str  # hex
    nonce: bytes
    ciphertext: bytes  # with the GCM tag


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def is_opaque(value: object) -> bool:
    """A value no rule on its plaintext can judge: sealed, or a marker."""
    return isinstance(value, str) and (value.startswith(PREFIX) or value in MARKERS)


def associated_data(owner: str, record_id: str, path: str) -> bytes:
    return "\x1f".join((owner, record_id, path)).encode("utf-8")


@lru_cache(maxsize=4096)
def _cipher(dek: bytes) -> AESGCM:
    return AESGCM(dek)


@lru_cache(maxsize=4096)
def _keys(dek: bytes) -> tuple[AESGCM, bytes]:
    """The cipher and the nonce key of a data key (derived once per key, and only where
    values are sealed: opening needs the cipher alone)."""
    nonce_key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"casebus-fle1 nonce"
    ).derive(dek)
    return _cipher(dek), nonce_key


def seal(dek: bytes, key_id: str, plaintext: str, aad: bytes) -> str:
    cipher, nonce_key = _keys(dek)
    data = plaintext.encode("utf-8")
    nonce = hmac.digest(nonce_key, aad + b"\x00" + data, "sha256")[:NONCE_BYTES]
    body = bytes([VERSION]) + bytes.fromhex(key_id) + nonce + cipher.encrypt(nonce, data, aad)
    return PREFIX + base64.urlsafe_b64encode(body).rstrip(b"=").decode("ascii")


def parse(value: str) -> Sealed:
    if not value.startswith(PREFIX):
        raise EnvelopeError("not a sealed value")
    text = value[len(PREFIX) :]
    try:
        body = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as exc:
        raise EnvelopeError(f"not base64: {exc}") from None
    if len(body) <= _HEADER or body[0] != VERSION:
        raise EnvelopeError("unknown envelope version or truncated envelope")
    return Sealed(
        body[1 : 1 + KEY_ID_BYTES].hex(), body[1 + KEY_ID_BYTES : _HEADER], body[_HEADER:]
    )


_PREFIX_BYTES = PREFIX.encode("ascii")
_ID_CHARS = 4 * -(-(1 + KEY_ID_BYTES) // 3)  # the base64 characters covering version and key id


def key_ids_in(blob: bytes) -> set[str]:
    """The key ids of the sealed values in an encoded record (an Avro string is its UTF-8
    bytes after a length): read from the first characters of each envelope, without
    decoding the record. For fetching keys ahead; a wrong guess costs only a lookup."""
    found: set[str] = set()
    at = blob.find(_PREFIX_BYTES)
    while at >= 0:
        start = at + len(_PREFIX_BYTES)
        head = blob[start : start + _ID_CHARS]
        try:
            body = base64.urlsafe_b64decode(head)
        except ValueError:
            body = b""
        if len(body) > KEY_ID_BYTES and body[0] == VERSION:
            found.add(body[1 : 1 + KEY_ID_BYTES].hex())
        at = blob.find(_PREFIX_BYTES, start)
    return found


def open_sealed(dek: bytes, sealed: Sealed, aad: bytes) -> str:
    cipher = _cipher(dek)
    try:
        return cipher.decrypt(sealed.nonce, sealed.ciphertext, aad).decode("utf-8")
    except Exception as exc:  # InvalidTag: another key, another place, or altered bytes
        raise EnvelopeError(f"does not open: {type(exc).__name__}") from None
