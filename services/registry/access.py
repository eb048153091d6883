"""Who is asking the registry, and may they: HTTP Basic with the Kafka principals' secrets.

Confluent's convention (`basic.auth.user.info`), so stock clients work unchanged. Everyone
authenticated reads; writes follow `registry.access` (register; config and deletes); a
platform reads only the subjects of topics its Kafka ACLs let it read — its own feed — and
the schemas registered under them. The ACLs, not a second list, say which those are.
401 without or with wrong credentials, 403 when not allowed, with Confluent's error bodies.
"""

from __future__ import annotations

import fnmatch
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kafka import KafkaAdminClient

from casebus.config import Settings
from casebus.kafka.clients import make_admin
from casebus.security import acls
from casebus.security.basic import basic_credentials
from casebus.security.principals import REGISTRY, Principal, by_name
from casebus.security.secrets import MissingSecret, SecretStore

REALM = 'Basic realm="casebus-registry"'


class Denied(Exception):
    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


def unauthorized() -> Denied:
    return Denied(401, 401, "Unauthorized: valid HTTP Basic credentials are required")


TopicReads = Callable[[str], tuple[tuple[str, acls.Pattern], ...]]


def topic_of(subject: str) -> str:
    """The topic of a TopicNameStrategy subject (`<topic>-value`, `<topic>-key`)."""
    for suffix in ("-value", "-key"):
        if subject.endswith(suffix):
            return subject.removesuffix(suffix)
    return subject


class TopicGrants:
    """Which topics a principal may read, from the cluster's ACLs, cached for a few seconds
    (and looked up again before a denial, so a grant just made is honoured at once)."""

    def __init__(self, reads: TopicReads, ttl: float = 10.0, recheck: float = 1.0) -> None:
        self._reads = reads
        self._ttl = ttl
        self._recheck = recheck  # a denial looks again at most this often
        self._cache: dict[str, tuple[float, tuple[tuple[str, acls.Pattern], ...]]] = {}
        self._lock = threading.Lock()

    def may_read(self, principal: str, topic: str) -> bool:
        with self._lock:
            cached = self._cache.get(principal)
            if cached is not None:
                age = time.monotonic() - cached[0]
                if age < self._ttl and acls.matches(cached[1], topic):
                    return True
                if age < self._recheck:
                    return False
            patterns = self._reads(principal)
            self._cache[principal] = (time.monotonic(), patterns)
            return acls.matches(patterns, topic)


def kafka_topic_reads(settings: Settings) -> TopicReads:
    """Look-ups over one admin client, opened at the first and kept (reopened after a
    failure); TopicGrants calls it under its lock."""
    client: list[KafkaAdminClient] = []

    def reads(principal: str) -> tuple[tuple[str, acls.Pattern], ...]:
        if not client:
            client.append(
                make_admin(settings, client_id="casebus-registry-acls", principal=REGISTRY)
            )
        try:
            return acls.readable_topics(client[0], principal)
        except Exception:
            client.pop().close()
            raise

    return reads


@dataclass(frozen=True)
class Caller:
    principal: Principal
    # None: reads every subject; otherwise the subjects of topics these grants let it read.
    topics: TopicGrants | None

    def may_read(self, subject: str) -> bool:
        return self.topics is None or self.topics.may_read(self.principal.name, topic_of(subject))


class Access:
    def __init__(self, settings: Settings, reads: TopicReads | None = None) -> None:
        self._settings = settings
        self._topics = TopicGrants(reads or kafka_topic_reads(settings))
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
        return Caller(principal, self._topics if principal.role == "platform" else None)

    def _secret(self, name: str) -> str:
        if name not in self._secrets:
            try:
                self._secrets[name] = self._store.get(name)
            except MissingSecret:
                return "\0"  # never equal to a password from a header
        return self._secrets[name]

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
        """A platform reads a schema by id only if a subject it may read holds that id."""
        if caller is None or caller.topics is None:
            return
        if not any(caller.may_read(subject) for subject in subjects_of(schema_id)):
            raise Denied(
                403,
                40301,
                f"User {caller.principal.name} is denied Read on Schema: {schema_id}",
            )


def _basic(authorization: str | None) -> tuple[str, str]:
    found = basic_credentials(authorization)
    if found is None:
        raise unauthorized()
    return found
