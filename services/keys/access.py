"""Who is asking the key service, and may they: HTTP Basic with the principals' own secrets
(as the registry), then one rule per endpoint, deny by default. Every refusal names the
principal and the rule (docs/personal-data.md, "The key services")."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from casebus.config import Settings
from casebus.security.basic import basic_credentials
from casebus.security.secrets import MissingSecret, SecretStore

REALM = 'Basic realm="casebus-keys"'


class Denied(Exception):
    def __init__(self, status: int, principal: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.principal = principal
        self.rule = rule

    def body(self) -> dict[str, str]:
        return {"detail": str(self), "principal": self.principal, "rule": self.rule}


@dataclass(frozen=True)
class Caller:
    name: str
    role: str  # admin, connector, ingest, sync, replay, or what may do nothing here
    agency: str = ""  # a connector's owner, a sync's agency


def role_of(settings: Settings, name: str) -> Caller:
    """The principal's role from its name (casebus.security.principals' naming)."""
    agencies = settings.agency_by_code
    owners = {*agencies, *(p.code for p in settings.platforms)}
    if name == settings.kafka.security.admin:
        return Caller(name, "admin")
    if name in ("ingest", "replay"):
        return Caller(name, name)
    head, _, rest = name.partition(".")
    if head == "connector" and rest in owners:
        return Caller(name, "connector", rest)
    if head == "sync" and rest in agencies:
        return Caller(name, "sync", rest)
    return Caller(name, "other")  # platforms, feeds, registry, mirror: nothing here


class Access:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store = SecretStore(settings.secrets_dir)
        self._secrets: dict[str, str] = {}
        grants: dict[str, set[str]] = {}
        for grant in settings.personal.grants:
            grants.setdefault(grant.owner, set()).update(grant.readers)
        self._readers = grants  # owner -> the agencies granted its personal fields

    def caller(self, authorization: str | None) -> Caller:
        name, password = _basic(authorization)
        if not hmac.compare_digest(password.encode(), self._secret(name).encode()):
            raise unauthorized(name)
        return role_of(self.settings, name)

    def _secret(self, name: str) -> str:
        if name not in self._secrets:
            try:
                self._secrets[name] = self._store.get(name)
            except (MissingSecret, ValueError):
                return "\0"  # never equal to a password from a header
        return self._secrets[name]

    # -- the rules ---------------------------------------------------------------------------

    def may_make(self, caller: Caller, owner: str) -> None:
        """A data key for `owner`: its own connector, or ingest for an agency."""
        if caller.role == "connector" and caller.agency == owner:
            return
        if caller.role == "ingest" and owner in self.settings.agency_by_code:
            return
        raise Denied(
            403,
            caller.name,
            "producer-of-owner",
            f"{caller.name} may not get data keys of {owner}: only connector.{owner}"
            + (" or ingest" if owner in self.settings.agency_by_code else ""),
        )

    def reader(self, caller: Caller, agency: str | None) -> str:
        """The agency `caller` opens keys for: a sync its own; replay and the admin the one
        they name."""
        if caller.role == "sync":
            if agency and agency != caller.agency:
                raise Denied(
                    403,
                    caller.name,
                    "sync-for-own-agency",
                    f"{caller.name} may open keys for {caller.agency} only, not {agency}",
                )
            return caller.agency
        if caller.role in ("replay", "admin"):
            if not agency or agency not in self.settings.agency_by_code:
                raise Denied(
                    403,
                    caller.name,
                    "on-behalf-of-agency",
                    f"{caller.name} opens keys on behalf of a configured agency: name it "
                    f"(?agency=), not {agency or 'none'}",
                )
            return agency
        raise Denied(
            403,
            caller.name,
            "readers-are-agencies",
            f"{caller.name} may not open data keys: only an agency's sync, replay and the admin",
        )

    def may_open(self, caller: Caller, reader: str, owner: str) -> None:
        """`reader` opens `owner`'s keys: the owner itself or an agency it grants
        (the per-record "shared" condition is the reader's Opener's to check)."""
        if reader == owner or reader in self._readers.get(owner, ()):
            return
        raise Denied(
            403,
            caller.name,
            "personal.grants",
            f"{caller.name}: {reader} is not granted the personal fields of {owner}",
        )

    def may_list(self, caller: Caller, *, latest_only: bool = False) -> None:
        roles = {"sync", "replay", "admin"} | ({"connector", "ingest"} if latest_only else set())
        if caller.role in roles:
            return
        raise Denied(
            403,
            caller.name,
            "erasure-log-readers",
            f"{caller.name} may not read the erasure log: only syncs, replay and the admin"
            + (" (producers: its latest id)" if latest_only else ""),
        )

    def may_erase(self, caller: Caller) -> None:
        if caller.role == "admin":
            return
        raise Denied(
            403, caller.name, "admin-erases", f"{caller.name} may not erase: only the admin"
        )


def unauthorized(name: str = "") -> Denied:
    return Denied(
        401, name, "authenticate", "Unauthorized: valid HTTP Basic credentials are required"
    )


def _basic(authorization: str | None) -> tuple[str, str]:
    found = basic_credentials(authorization)
    if found is None:
        raise unauthorized()
    return found
