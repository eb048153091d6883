"""Signing keys and the trust list.

Each owner (an agency or platform code, or the feeds service) signs with one Ed25519 key.
The private key is `<keys_dir>/<owner>.pem` (PKCS#8, mode 0600) or, in production, the PEM
in `CASEBUS_SIGNING_KEY_<OWNER>` ("-" → "_"). The public half, its key id, the owner it
speaks for and its validity period are the owner's entry in the trust list: the config's
`[[provenance.trusted]]` entries plus the trust file, which `casebus keys generate` writes.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import tomli_w
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from casebus.config import ConfigError, Settings, TrustedKey

ENV_PREFIX = "CASEBUS_SIGNING_KEY_"


class MissingKey(Exception):
    """No private key for an owner that must sign."""


def key_id_of(public: Ed25519PublicKey) -> str:
    """The first 16 bytes of SHA-256 over the raw public key, hex: a fingerprint."""
    return hashlib.sha256(_raw(public)).hexdigest()[:32]


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_of(entry: TrustedKey) -> Ed25519PublicKey:
    raw = base64.b64decode(entry.public_key, validate=True)
    public = Ed25519PublicKey.from_public_bytes(raw)
    if key_id_of(public) != entry.key_id:
        raise ConfigError(f"trust list: key {entry.key_id}: key_id is not the key's fingerprint")
    return public


@dataclass(frozen=True)
class SigningKey:
    owner: str
    key_id: str
    private: Ed25519PrivateKey


def _env_name(owner: str) -> str:
    return ENV_PREFIX + owner.upper().replace("-", "_").replace(".", "_")


def key_path(settings: Settings, owner: str) -> Path:
    return settings.keys_dir / f"{owner}.pem"


def load_signing_key(settings: Settings, owner: str) -> SigningKey:
    """The owner's private key, from the environment or its file; MissingKey if neither."""
    pem = os.environ.get(_env_name(owner))
    path = key_path(settings, owner)
    if pem is None:
        if not path.is_file():
            raise MissingKey(
                f"no signing key for {owner}: set {_env_name(owner)} or create {path} "
                f"(casebus keys generate {owner})"
            )
        pem = path.read_text()
    private = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise MissingKey(f"signing key of {owner} ({path}) is not an Ed25519 key")
    return SigningKey(owner, key_id_of(private.public_key()), private)


# -- the trust list -------------------------------------------------------------------------


def trust_list(settings: Settings) -> tuple[TrustedKey, ...]:
    """Every trusted key: the config's entries, then the trust file's."""
    return (*settings.provenance.trusted, *_read_file(settings.trust_file))


def _read_file(path: Path) -> tuple[TrustedKey, ...]:
    if not path.is_file():
        return ()
    try:
        entries = tomllib.loads(path.read_text()).get("trusted", [])
        return tuple(TrustedKey.model_validate(e) for e in entries)
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ConfigError(f"trust file {path}: {exc}") from None


def _write_file(path: Path, entries: tuple[TrustedKey, ...]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"trusted": [e.model_dump(exclude_defaults=False) for e in entries]}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        "# Trusted signing keys (casebus keys generate / revoke). Public halves only.\n"
        + tomli_w.dumps(body)
    )
    tmp.replace(path)


def generate(
    settings: Settings,
    owner: str,
    *,
    valid_days: int | None = None,
    valid_from: datetime | None = None,
    replace: bool = False,
) -> TrustedKey:
    """A new key pair for `owner`: the private key to its file (0600), the public entry to
    the trust file. An existing key is kept unless `replace` (then the old entry stays in
    the trust list, still valid, until revoked: events it signed keep verifying).
    `valid_from` (default: a day ago) reaches back for events published before today."""
    path = key_path(settings, owner)
    if path.exists() and not replace:
        raise FileExistsError(f"{path} exists (pass --replace for a new key)")
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    tmp.replace(path)
    now = datetime.now(UTC).replace(microsecond=0)
    days = valid_days or settings.provenance.key_valid_days
    public = private.public_key()
    entry = TrustedKey(
        key_id=key_id_of(public),
        owner=owner,
        public_key=base64.b64encode(_raw(public)).decode(),
        # A day's grace before now: a clock a little behind still accepts fresh events.
        not_before=valid_from or now - timedelta(days=1),
        not_after=now + timedelta(days=days),
    )
    _write_file(settings.trust_file, (*_read_file(settings.trust_file), entry))
    return entry


def revoke(settings: Settings, key_id: str, reason: str) -> TrustedKey:
    """Mark a key of the trust file revoked; ConfigError if it is not there."""
    entries = _read_file(settings.trust_file)
    found = [e for e in entries if e.key_id == key_id]
    if not found:
        if any(e.key_id == key_id for e in settings.provenance.trusted):
            raise ConfigError(f"key {key_id} is in the config file: set revoked = true there")
        raise ConfigError(f"key {key_id} is not in the trust file {settings.trust_file}")
    revoked = found[0].model_copy(update={"revoked": True, "revoked_reason": reason})
    _write_file(settings.trust_file, tuple(revoked if e.key_id == key_id else e for e in entries))
    return revoked


def owners_to_key(settings: Settings) -> list[str]:
    """Every owner a local deployment signs as: agencies, platforms, the feeds service."""
    owners = {a.code for a in settings.agencies} | {p.code for p in settings.platforms}
    owners |= {c.owner for c in settings.connectors}
    return sorted(owners | {settings.provenance.feeds_owner})


def ensure_keys(settings: Settings, *, valid_from: datetime | None = None) -> list[TrustedKey]:
    """Generate a key for each owner that has none (local deployments, demo and tests);
    returns the new trust entries."""
    made = []
    for owner in owners_to_key(settings):
        if os.environ.get(_env_name(owner)) is None and not key_path(settings, owner).exists():
            made.append(generate(settings, owner, valid_from=valid_from))
    return made
