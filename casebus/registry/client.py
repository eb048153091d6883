"""Client for a Confluent-compatible schema registry (ours: `casebus registry serve`).

Transient faults (connection errors, 5xx) are retried by urllib3 with exponential backoff;
when they persist the client raises SchemaRegistryUnavailable (transient: pause, retry).
Anything the registry answered with a 4xx is a RegistryError carrying its error code.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from casebus.config import Settings
from casebus.security.secrets import SecretStore
from casebus.serde.errors import SchemaRegistryUnavailable, UnknownSchemaId

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
_RETRY_STATUS = (500, 502, 503, 504)


class RegistryError(Exception):
    """The registry refused a request (4xx); `error_code` is Confluent's, e.g. 40401."""

    def __init__(self, status: int, error_code: int, message: str) -> None:
        self.status = status
        self.error_code = error_code
        super().__init__(f"registry error {error_code}: {message}")


@dataclass(frozen=True)
class RegisteredSchema:
    subject: str
    version: int
    schema_id: int
    schema: str


@dataclass(frozen=True)
class CompatibilityResult:
    is_compatible: bool
    messages: list[str]


def _schema_text(schema: dict[str, Any] | str) -> str:
    return schema if isinstance(schema, str) else json.dumps(schema, ensure_ascii=False)


class RegistryClient:
    """Caches schema by id and id by (subject, schema text); thread-safe enough for reads."""

    def __init__(
        self,
        url: str,
        *,
        auth: tuple[str, str] | None = None,
        timeout: float = 5.0,
        retries: int = 4,
        backoff: float = 0.2,
    ) -> None:
        self.url = url.rstrip("/")
        self._timeout = timeout
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=backoff,
            status_forcelist=_RETRY_STATUS,
            allowed_methods=None,  # registration is idempotent on our registry: retry POSTs too
            raise_on_status=False,
        )
        self._session = requests.Session()
        self._session.mount("http://", HTTPAdapter(max_retries=retry))
        self._session.mount("https://", HTTPAdapter(max_retries=retry))
        self._session.headers.update({"Accept": CONTENT_TYPE, "Content-Type": CONTENT_TYPE})
        self._session.auth = auth  # HTTP Basic: a principal and its secret
        self._schemas: dict[int, str] = {}
        self._ids: dict[tuple[str, str], int] = {}

    def close(self) -> None:
        self._session.close()

    def prime(self, subject: str, schema: dict[str, Any] | str, schema_id: int) -> None:
        """Seed the caches without a round trip (benchmarks; a registry needs no priming)."""
        text = _schema_text(schema)
        self._schemas[schema_id] = text
        self._ids[(subject, text)] = schema_id

    # -- schemas ---------------------------------------------------------------------------

    def register(self, subject: str, schema: dict[str, Any] | str) -> int:
        """Register under the subject (idempotent); return the schema id."""
        text = _schema_text(schema)
        cached = self._ids.get((subject, text))
        if cached is not None:
            return cached
        body = self._call("POST", f"/subjects/{_q(subject)}/versions", {"schema": text})
        schema_id = int(body["id"])
        self._ids[(subject, text)] = schema_id
        self._schemas.setdefault(schema_id, text)
        return schema_id

    def get_schema(self, schema_id: int) -> str:
        """Schema text by id; UnknownSchemaId if the registry has none."""
        cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        try:
            body = self._call("GET", f"/schemas/ids/{int(schema_id)}")
        except RegistryError as exc:
            if exc.status == 404:
                raise UnknownSchemaId(f"the registry has no schema id {schema_id}") from exc
            raise
        text = str(body["schema"])
        self._schemas[schema_id] = text
        return text

    def lookup(self, subject: str, schema: dict[str, Any] | str) -> int | None:
        """Id of the schema if it is registered under the subject, else None."""
        text = _schema_text(schema)
        cached = self._ids.get((subject, text))
        if cached is not None:
            return cached
        try:
            body = self._call("POST", f"/subjects/{_q(subject)}", {"schema": text})
        except RegistryError as exc:
            if exc.status == 404:
                return None
            raise
        schema_id = int(body["id"])
        self._ids[(subject, text)] = schema_id
        return schema_id

    def latest(self, subject: str) -> RegisteredSchema:
        return self.version(subject, "latest")

    def version(self, subject: str, version: int | str) -> RegisteredSchema:
        body = self._call("GET", f"/subjects/{_q(subject)}/versions/{version}")
        return RegisteredSchema(body["subject"], body["version"], body["id"], body["schema"])

    def test_compatibility(
        self, subject: str, schema: dict[str, Any] | str, version: int | str = "latest"
    ) -> CompatibilityResult:
        body = self._call(
            "POST",
            f"/compatibility/subjects/{_q(subject)}/versions/{version}?verbose=true",
            {"schema": _schema_text(schema)},
        )
        return CompatibilityResult(bool(body["is_compatible"]), list(body.get("messages", [])))

    # -- subjects and config ---------------------------------------------------------------

    def subjects(self) -> list[str]:
        return list(self._call("GET", "/subjects"))

    def versions(self, subject: str) -> list[int]:
        return list(self._call("GET", f"/subjects/{_q(subject)}/versions"))

    def delete_subject(self, subject: str, *, permanent: bool = False) -> list[int]:
        path = f"/subjects/{_q(subject)}" + ("?permanent=true" if permanent else "")
        return list(self._call("DELETE", path))

    def get_config(self, subject: str | None = None) -> str:
        path = f"/config/{_q(subject)}" if subject else "/config"
        return str(self._call("GET", path)["compatibilityLevel"])

    def set_config(self, level: str, subject: str | None = None) -> str:
        path = f"/config/{_q(subject)}" if subject else "/config"
        return str(self._call("PUT", path, {"compatibility": level})["compatibility"])

    # -- transport -------------------------------------------------------------------------

    def _call(self, method: str, path: str, payload: object = None) -> Any:
        url = self.url + path
        try:
            response = self._session.request(
                method,
                url,
                data=None if payload is None else json.dumps(payload).encode("utf-8"),
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            log.warning("schema registry %s unreachable: %s", self.url, exc)
            raise SchemaRegistryUnavailable(
                f"schema registry {self.url} unreachable: {exc}"
            ) from exc
        if response.status_code >= 500:
            raise SchemaRegistryUnavailable(
                f"schema registry {self.url} answered {response.status_code} to {method} {path}"
            )
        try:
            body = response.json()
        except ValueError:
            body = {"message": response.text}
        if response.status_code >= 400:
            code = body.get("error_code", response.status_code) if isinstance(body, dict) else 0
            message = body.get("message", "") if isinstance(body, dict) else str(body)
            raise RegistryError(response.status_code, int(code), str(message))
        return body


def _q(segment: str) -> str:
    return quote(segment, safe="")


def registry_for(
    settings: Settings, principal: str, *, url: str | None = None, **options: Any
) -> RegistryClient:
    """A client of the configured registry (or `url`), authenticated as `principal`."""
    auth = None
    if settings.registry.access.authenticate:
        auth = (principal, SecretStore(settings.secrets_dir).get(principal))
    return RegistryClient(url or settings.registry.url, auth=auth, **options)
