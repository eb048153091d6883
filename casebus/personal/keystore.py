"""Data keys, wrapped by their owner's key-encryption key, kept outside the bus.

One data key (AES-256) per owner and person (the subject): every personal value of that
person the owner publishes is sealed under it, so destroying it erases that person from
every topic at once, and nobody else. A subject is never stored as it is: the store knows it
by an HMAC under the store's own index key (<kek_dir>/index.key), so the key store does not
become a list of identity numbers.

The wrapped keys sit in a small SQLite database (`[personal] key_store`), not on a topic:
a row can be deleted, a record in a log kept forever cannot. `secure_delete` overwrites a
deleted key's bytes in the file. A production deployment puts the same tables behind a
service; the key-encryption keys stay with a `Kms` (the `LocalKms` here reads files with mode
0600 or CASEBUS_KEK_<OWNER>, as the signing keys are read; a cloud or hardware KMS implements
the same two calls).
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import re
import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from casebus.config import Settings
from casebus.personal.envelope import DEK_BYTES, KEY_ID_BYTES
from casebus.personal.idcard import normalise

KEK_ENV_PREFIX = "CASEBUS_KEK_"
_WRAP_NONCE = 12
_REFS_CACHED = 100_000


class KeyUnavailable(Exception):
    """A key-encryption key that is not here (this process may not unwrap that owner's keys)."""


class ChangedKeys(Exception):
    """The person's data keys changed between an erasure's preparation and its execution."""


class Kms(Protocol):
    """Wraps and unwraps data keys under an owner's key-encryption key, which never leaves it."""

    def wrap(self, owner: str, dek: bytes, aad: bytes) -> bytes: ...

    def unwrap(self, owner: str, wrapped: bytes, aad: bytes) -> bytes: ...


def _write_secret(path: Path, data: bytes) -> bytes:
    """Create `path` (0600) with `data` unless another process just did; its content."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return data


class LocalKms:
    """Key-encryption keys from CASEBUS_KEK_<OWNER> (base64) or <kek_dir>/<owner>.key (0600).
    `create`: an owner's producer makes its key when it has none (a KMS creating a key on
    first use); a reader never does."""

    def __init__(self, folder: Path, *, create: bool = False) -> None:
        self.folder = folder
        self.create = create
        self._keys: dict[str, AESGCM] = {}

    def _kek(self, owner: str) -> AESGCM:
        found = self._keys.get(owner)
        if found is not None:
            return found
        env = os.environ.get(KEK_ENV_PREFIX + owner.upper().replace("-", "_").replace(".", "_"))
        path = self.folder / f"{owner}.key"
        if env is not None:
            raw = base64.b64decode(env)
        elif path.is_file():
            raw = path.read_bytes()
        elif self.create:
            raw = _write_secret(path, secrets.token_bytes(32))
        else:
            raise KeyUnavailable(f"no key-encryption key for {owner}")
        found = self._keys[owner] = AESGCM(raw)
        return found

    def wrap(self, owner: str, dek: bytes, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(_WRAP_NONCE)
        return nonce + self._kek(owner).encrypt(nonce, dek, aad)

    def unwrap(self, owner: str, wrapped: bytes, aad: bytes) -> bytes:
        return self._kek(owner).decrypt(wrapped[:_WRAP_NONCE], wrapped[_WRAP_NONCE:], aad)


@dataclass(frozen=True, slots=True)
class DataKey:
    key_id: str
    owner: str
    dek: bytes


@dataclass(frozen=True, slots=True)
class Erasure:
    """One `casebus personal erase`: the keys destroyed, when, by whom, and its signature."""

    id: int
    subject_ref: str
    key_ids: tuple[str, ...]
    erased_at: str
    erased_by: str
    reason: str
    signed_by: str  # the signing key id
    signature: str  # base64 Ed25519 over `body()`
    # Whose log it is in: "" the local key store; a region's code for its key service (ids
    # are numbered per log, so an erasure is known by (source, id)).
    source: str = ""

    @property
    def identity(self) -> tuple[str, int]:
        return (self.source, self.id)

    @property
    def label(self) -> str:
        return f"{self.source}/{self.id}" if self.source else str(self.id)

    def body(self) -> bytes:
        return erasure_body(
            self.subject_ref, self.key_ids, self.erased_at, self.erased_by, self.reason
        )


def erasure_body(
    subject_ref: str, key_ids: Iterable[str], erased_at: str, erased_by: str, reason: str
) -> bytes:
    content = {
        "subject_ref": subject_ref,
        "key_ids": sorted(key_ids),
        "erased_at": erased_at,
        "erased_by": erased_by,
        "reason": reason,
    }
    return json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS data_keys (
    key_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    subject_ref TEXT NOT NULL,
    wrapped BLOB NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (owner, subject_ref)
);
CREATE TABLE IF NOT EXISTS aliases (
    alias_ref TEXT NOT NULL,
    key_id TEXT NOT NULL,
    PRIMARY KEY (alias_ref, key_id)
);
CREATE TABLE IF NOT EXISTS erased_subjects (subject_ref TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS erasures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_ref TEXT NOT NULL,
    key_ids TEXT NOT NULL,
    erased_at TEXT NOT NULL,
    erased_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    signed_by TEXT NOT NULL,
    signature TEXT NOT NULL
);
"""


def normalise_subject(value: str) -> str:
    """An identity number as GB 11643 writes it; anything else without spaces and dashes."""
    return re.sub(r"[\s\-]", "", normalise(value))


class Keys(Protocol):
    """What the producers (Sealer), the readers (Opener) and the erasure bookkeeping use of a
    key store: the local one (KeyStore) or the regions' key services (RemoteKeyStore)."""

    generation: int
    ahead: bool  # whether `prefetch` saves anything (remote: requests; local: nothing)

    def data_key(self, owner: str, subject: str, aliases: Sequence[str] = ()) -> DataKey | None: ...

    def open_key(self, key_id: str, owner: str | None = None) -> DataKey | None: ...

    def prefetch(self, wanted: Iterable[tuple[str, str]]) -> None: ...

    def forget(self) -> None: ...

    def latest_erasure(self) -> object: ...

    def erasures(self, after: int = 0) -> list[Erasure]: ...

    def erased_key_ids(self) -> frozenset[str]: ...


def keys_for(
    settings: Settings,
    *,
    create: bool = False,
    principal: str | None = None,
    reader: str | None = None,
) -> Keys:
    """The key store this process uses: the regions' key services when config names any
    ([[regions]] cluster.key_service_url), else the local one. `principal`: whom the client
    authenticates as (default: the owner's connector for a producer, `sync.<reader>` for a
    reader); `reader`: the agency a reader opens keys for."""
    if settings.key_services:
        from casebus.personal.remote import RemoteKeyStore

        return RemoteKeyStore(settings, principal=principal, reader=reader)
    return KeyStore.of(settings, create=create)


class KeyStore:
    """The wrapped data keys and the erasure log. Opened lazily in each process (a decode
    worker forks after its parent may have used it)."""

    def __init__(self, path: Path, kms: Kms, index_key_file: Path) -> None:
        self.path = path
        self.kms = kms
        self._index_file = index_key_file
        self._index: bytes | None = None
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._open: dict[str, DataKey | None] = {}  # key id -> unwrapped (None: cannot)
        self._own: dict[tuple[str, str], DataKey] = {}  # (owner, subject ref) -> its key
        self._refs: dict[str, str] = {}  # subject as given -> its reference
        self.generation = 0  # moved on by every `forget`: what callers cached goes too

    @classmethod
    def of(cls, settings: Settings, *, create: bool = False) -> KeyStore:
        kms = LocalKms(settings.kek_dir, create=create)
        return cls(settings.personal_key_store, kms, settings.kek_dir / "index.key")

    def _db(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA secure_delete = ON")
            conn.executescript(_SCHEMA)
            os.chmod(self.path, 0o600)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def subject_ref(self, subject: str) -> str:
        found = self._refs.get(subject)
        if found is not None:
            return found
        if self._index is None:
            self._index = _write_secret(self._index_file, secrets.token_bytes(32))
        if len(self._refs) >= _REFS_CACHED:
            self._refs.clear()
        text = normalise_subject(subject).encode("utf-8")
        found = self._refs[subject] = hmac.digest(self._index, text, "sha256").hex()
        return found

    def data_key(self, owner: str, subject: str, aliases: Sequence[str] = ()) -> DataKey | None:
        """The owner's data key for this person, made now if there is none; None if the person
        was erased (nothing of theirs may be sealed again under a key that could be read).
        `aliases`: other identifiers of the person (an informant's phone beside their
        identity number) an erasure may name them by."""
        ref = self.subject_ref(subject)
        found = self._own.get((owner, ref))
        if found is not None:
            return found
        db = self._db()
        refs = [ref, *(self.subject_ref(a) for a in aliases)]
        marks = ",".join("?" * len(refs))
        erased = db.execute(f"SELECT 1 FROM erased_subjects WHERE subject_ref IN ({marks})", refs)
        if erased.fetchone():
            return None
        row = db.execute(
            "SELECT key_id, wrapped FROM data_keys WHERE owner = ? AND subject_ref = ?",
            (owner, ref),
        ).fetchone()
        if row is None:
            key_id, dek = secrets.token_hex(KEY_ID_BYTES), secrets.token_bytes(DEK_BYTES)
            wrapped = self.kms.wrap(owner, dek, _wrap_aad(key_id, owner))
            now = datetime.now(UTC).isoformat()
            db.execute(
                "INSERT OR IGNORE INTO data_keys VALUES (?, ?, ?, ?, ?)",
                (key_id, owner, ref, wrapped, now),
            )
            row = db.execute(
                "SELECT key_id, wrapped FROM data_keys WHERE owner = ? AND subject_ref = ?",
                (owner, ref),
            ).fetchone()
        key_id, wrapped = row
        db.executemany(
            "INSERT OR IGNORE INTO aliases VALUES (?, ?)", [(r, key_id) for r in refs[1:]]
        )
        found = DataKey(key_id, owner, self.kms.unwrap(owner, wrapped, _wrap_aad(key_id, owner)))
        self._own[(owner, ref)] = found
        return found

    def owner_of(self, key_id: str) -> str | None:
        row = self._db().execute("SELECT owner FROM data_keys WHERE key_id = ?", (key_id,))
        found = row.fetchone()
        return None if found is None else str(found[0])

    def open_key(self, key_id: str, owner: str | None = None) -> DataKey | None:
        """The data key with this id, unwrapped; None if it was destroyed, is unknown, or its
        owner's key-encryption key is not here. Callers check the grant first. (`owner`, the
        record's, routes a remote store's request; here the key's own owner is returned and
        the caller compares.)"""
        if key_id in self._open:
            return self._open[key_id]
        row = (
            self._db()
            .execute("SELECT owner, wrapped FROM data_keys WHERE key_id = ?", (key_id,))
            .fetchone()
        )
        found = None
        if row is not None:
            owner, wrapped = row
            try:
                found = DataKey(
                    key_id, owner, self.kms.unwrap(owner, wrapped, _wrap_aad(key_id, owner))
                )
            except KeyUnavailable:
                found = None
        self._open[key_id] = found
        return found

    ahead = False  # each key is one lookup in a local file: nothing to fetch ahead

    def prefetch(self, wanted: Iterable[tuple[str, str]]) -> None:
        """Nothing to do ahead (`ahead`)."""

    def forget(self) -> None:
        """Drop every unwrapped key held in memory (after an erasure elsewhere)."""
        self._open.clear()
        self._own.clear()
        self.generation += 1

    # -- erasure ----------------------------------------------------------------------------

    def _keys_of(self, db: sqlite3.Connection, ref: str) -> list[tuple[str, str]]:
        return db.execute(
            "SELECT key_id, subject_ref FROM data_keys WHERE subject_ref = ?"
            " OR key_id IN (SELECT key_id FROM aliases WHERE alias_ref = ?)",
            (ref, ref),
        ).fetchall()

    def keys_of(self, subject: str) -> tuple[str, list[str]]:
        """(subject ref, the ids of the person's data keys): what `destroy` would destroy now."""
        ref = self.subject_ref(subject)
        return ref, sorted(r[0] for r in self._keys_of(self._db(), ref))

    def destroy(self, subject: str, expected: Sequence[str] | None = None) -> tuple[str, list[str]]:
        """Delete every data key of this person (all owners) and refuse new ones: (subject
        ref, key ids destroyed). The caller logs and signs it (`record_erasure`). `expected`:
        the key ids an erasure record already signed names; ChangedKeys (nothing destroyed)
        if the person's keys are no longer those."""
        ref = self.subject_ref(subject)
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            found = self._keys_of(db, ref)
            ids = [r[0] for r in found]
            if expected is not None and sorted(ids) != sorted(expected):
                raise ChangedKeys(
                    f"the person's keys are now {sorted(ids)}, not {sorted(expected)}"
                )
            # The person, under every identifier their keys were made for, gets no new key.
            erased = [(r,) for r in sorted({ref} | {r[1] for r in found})]
            db.executemany("INSERT OR IGNORE INTO erased_subjects VALUES (?)", erased)
            db.executemany("DELETE FROM data_keys WHERE key_id = ?", [(k,) for k in ids])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.forget()
        return ref, sorted(ids)

    def record_erasure(self, erasure: Erasure) -> int:
        cursor = self._db().execute(
            "INSERT INTO erasures (subject_ref, key_ids, erased_at, erased_by, reason,"
            " signed_by, signature) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                erasure.subject_ref,
                json.dumps(list(erasure.key_ids)),
                erasure.erased_at,
                erasure.erased_by,
                erasure.reason,
                erasure.signed_by,
                erasure.signature,
            ),
        )
        return int(cursor.lastrowid or 0)

    def latest_erasure(self) -> object:
        """Something that changes with every new erasure (here: the last one's id)."""
        if not self.path.exists():
            return 0
        found = self._db().execute("SELECT max(id) FROM erasures").fetchone()
        return int(found[0] or 0)

    def erasures(self, after: int = 0) -> list[Erasure]:
        if not self.path.exists():
            return []
        rows = self._db().execute(
            "SELECT id, subject_ref, key_ids, erased_at, erased_by, reason, signed_by, signature"
            " FROM erasures WHERE id > ? ORDER BY id",
            (after,),
        )
        return [
            Erasure(r[0], r[1], tuple(json.loads(r[2])), r[3], r[4], r[5], r[6], r[7]) for r in rows
        ]

    def erased_key_ids(self) -> frozenset[str]:
        return frozenset(k for e in self.erasures() for k in e.key_ids)


def _wrap_aad(key_id: str, owner: str) -> bytes:
    return f"casebus-dek\x1f{owner}\x1f{key_id}".encode()
