"""Who is asking the registry, and may they: HTTP Basic with the Kafka principals' secrets.

Confluent's convention (`basic.auth.user.info`), so stock clients work unchanged. Everyone
authenticated reads; writes follow `registry.access` (register; config and deletes); a
platform reads only the subjects of its own feed (and the schemas registered under them).
401 without or with wrong credentials, 403 when not allowed, with Confluent's error bodies.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from casebus.config import Settings
from casebus.security.principals import Principal, by_name
from casebus.security.secrets import MissingSecret, SecretStore

REALM = 'Basic realm="casebus-registry"'


class Denied(Exception):
    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


def unauthorized() -> Denied:
    return Denied(401, 401, "Unauthorized: valid HTTP Basic credentials are required")


@dataclass(frozen=True)
class Caller:
    principal: Principal
    # Subjects it may read; None: all of them.
    readable: frozenset[str] | None

    def may_read(self, subject: str) -> bool:
        return self.readable is None or subject in self.readable


class Access:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._principals = by_name(settings)
        self._store = SecretStore(settings.secrets_dir)
        self._secrets: dict[str, str] = {}
        self.enabled = settings.registry.access.authenticate

    def caller(self, authorization: str | None) -> Caller | None:
        """The authenticated caller (None when authentication is off); raises Denied(401)."""
        if not self.enabled:
            return None
        name, password = _basic(authorization)
        principal = self._principals.get(name)
        if principal is None or not hmac.compare_digest(password, self._secret(name)):
            raise unauthorized()
        return Caller(principal, self._readable(principal))

    def _secret(self, name: str) -> str:
        if name not in self._secrets:
            try:
                self._secrets[name] = self._store.get(name)
            except MissingSecret:
                return "\0"  # never equal to a password from a header
        return self._secrets[name]

    def _readable(self, principal: Principal) -> frozenset[str] | None:
        if principal.role != "platform":
            return None
        platform = self._settings.platform(principal.subject)
        topic = self._settings.feeds.feed_topic(platform)
        return frozenset({f"{topic}-value", f"{topic}-key"})

    def check_write(self, caller: Caller | None, action: str, subject: str | None) -> None:
        """action: "register" (a new version) or "admin" (config, delete)."""
        if caller is None:
            return
        access = self._settings.registry.access
        patterns = access.registrants if action == "register" else access.admin
        if not any(fnmatch.fnmatchcase(caller.principal.name, p) for p in patterns):
            what = "Write" if action == "register" else "Alter"
            target = f"Subject: {subject}" if subject else "Cluster: registry config"
            raise Denied(403, 40301, f"User {caller.principal.name} is denied {what} on {target}")
        if subject is not None:
            self.check_read(caller, subject)

    def check_read(self, caller: Caller | None, subject: str) -> None:
        if caller is not None and not caller.may_read(subject):
            raise Denied(
                403,
                40301,
                f"User {caller.principal.name} is denied Read on Subject: {subject}",
            )

    def check_schema(
        self, caller: Caller | None, schema_id: int, subjects_of: Callable[[int], set[str]]
    ) -> None:
        """A platform reads a schema by id only if one of its subjects holds that id."""
        if caller is None or caller.readable is None:
            return
        if not subjects_of(schema_id) & caller.readable:
            raise Denied(
                403,
                40301,
                f"User {caller.principal.name} is denied Read on Schema: {schema_id}",
            )


def _basic(authorization: str | None) -> tuple[str, str]:
    if not authorization:
        raise unauthorized()
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise unauthorized()
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise unauthorized() from None
    name, sep, password = decoded.partition(":")
    if not sep:
        raise unauthorized()
    return name, password
