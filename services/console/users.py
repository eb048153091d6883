"""Console users: who signs in, with which password hash, as staff of which agency or as
an admin.

They come from a file of their own (`[console] users_file`, default
var/console/users.toml, mode 0600, written by `casebus console users add`) and from
CASEBUS_CONSOLE_USERS (a JSON object of the same shape), never from committed config. The
Kafka principals' secrets are not reused: they identify services, not people, and a clerk
must not hold a credential that reads the bus. Passwords are kept as scrypt hashes with a
salt of their own, compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

USERS_ENV = "CASEBUS_CONSOLE_USERS"
MIN_PASSWORD = 10
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# scrypt's cost: 2^14 × 8 × 128 bytes = 16 MB and some 50 ms per check on this machine.
_N, _R, _P, _LEN = 2**14, 8, 1, 32


class UsersError(ValueError):
    """A users file or entry that cannot be used; the message names the user and the rule."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    agency: str | None  # None: an admin, who reads no agency's database
    password_hash: str

    @property
    def is_admin(self) -> bool:
        return self.agency is None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=_LEN)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


# Checked against when the user is unknown, so that a wrong name costs what a wrong
# password costs and the answer's timing does not tell which names exist.
_DUMMY = hash_password(secrets.token_urlsafe(16))


def authenticate(users: dict[str, User], name: str, password: str) -> User | None:
    user = users.get(name)
    ok = check_password(password, user.password_hash if user else _DUMMY)
    return user if ok and user is not None else None


def _user(name: str, entry: Any, agencies: frozenset[str]) -> User:
    if not NAME.match(name):
        raise UsersError(f"user {name!r}: letters, digits, '.', '_' and '-' only")
    if not isinstance(entry, dict):
        raise UsersError(f"user {name!r}: expected a table with password and agency or admin")
    password = entry.get("password")
    if not isinstance(password, str) or not password.startswith("scrypt$"):
        raise UsersError(f"user {name!r}: password must be a scrypt hash (casebus console users)")
    admin, agency = entry.get("admin") is True, entry.get("agency")
    if admin == (agency is not None):
        raise UsersError(f'user {name!r}: give exactly one of agency = "..." or admin = true')
    if agency is not None and agency not in agencies:
        raise UsersError(f"user {name!r}: unknown agency {agency!r}")
    return User(name, None if admin else str(agency), password)


def load_users(path: Path, agencies: frozenset[str]) -> dict[str, User]:
    """The users of the file (if any) and of CASEBUS_CONSOLE_USERS; the environment wins."""
    raw: dict[str, Any] = {}
    if path.is_file():
        try:
            raw.update(tomllib.loads(path.read_text(encoding="utf-8")).get("users", {}))
        except tomllib.TOMLDecodeError as exc:
            raise UsersError(f"{path}: {exc}") from None
    if os.environ.get(USERS_ENV):
        try:
            raw.update(json.loads(os.environ[USERS_ENV]))
        except json.JSONDecodeError as exc:
            raise UsersError(f"{USERS_ENV}: not a JSON object: {exc}") from None
    return {name: _user(name, entry, agencies) for name, entry in raw.items()}


def save_user(path: Path, user: User) -> None:
    """Add or replace one user in the file, written anew with mode 0600."""
    if not NAME.match(user.name):
        raise UsersError(f"user {user.name!r}: letters, digits, '.', '_' and '-' only")
    body: dict[str, Any] = {}
    if path.is_file():
        body = tomllib.loads(path.read_text(encoding="utf-8"))
    entry: dict[str, Any] = {"password": user.password_hash}
    entry.update({"admin": True} if user.agency is None else {"agency": user.agency})
    body.setdefault("users", {})[user.name] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(tomli_w.dumps(body).encode())
    os.chmod(temp, 0o600)
    temp.replace(path)
