"""The key store as a client of the regions' key services (services/keys/, docs/personal-data.md).

Chosen by `keys_for` when config names a key service for a region
(`[[regions]] cluster.key_service_url`). The same calls as the local KeyStore: a producer
asks its owner's region's service for the data key of a person (made there if there is
none), a reader asks the service of the region of the record's owner to open a key by id
(the service checks the grant), the erasures are the union of every region's log, each
known by (region, id). The unwrapped keys are kept in memory as the local store keeps them,
and forgotten when any region's log gains an erasure.

HTTPS, the server verified against the local CA (`ca.pem`); the principal's own secret over
HTTP Basic. One requests.Session per process: a decode worker forks after its parent may
have used it.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Iterable, Sequence
from typing import Any

import requests

from casebus.config import Settings
from casebus.personal.keystore import DataKey, Erasure
from casebus.retry import RetryAfter
from casebus.security.principals import connector, sync
from casebus.security.secrets import SecretStore

log = logging.getLogger(__name__)

API = "/v1"
_TIMEOUT = 10.0
_ATTEMPTS = 3
OPEN_AT_ONCE = 1000  # key ids in one request (the service's limit)


class KeyServiceError(Exception):
    """A key service did not answer, or answered what it should not (the message says which
    and what): the caller fails rather than storing a value as unreadable for good."""


class KeyServiceUnavailable(KeyServiceError, RetryAfter):
    """Unreachable, or failing (5xx), after a few attempts: the same work again later (a
    sync keeps its batch and backs off; ingest answers 503), nothing dead-lettered."""


class KeyServiceDenied(KeyServiceError):
    """The service refused the principal (401, 403): its body names the rule."""


def erasure_from(body: dict[str, Any], source: str) -> Erasure:
    return Erasure(
        int(body["id"]),
        str(body["subject_ref"]),
        tuple(body["key_ids"]),
        str(body["erased_at"]),
        str(body["erased_by"]),
        str(body["reason"]),
        str(body["signed_by"]),
        str(body["signature"]),
        source,
    )


def erasure_json(erasure: Erasure) -> dict[str, Any]:
    return {
        "id": erasure.id,
        "subject_ref": erasure.subject_ref,
        "key_ids": list(erasure.key_ids),
        "erased_at": erasure.erased_at,
        "erased_by": erasure.erased_by,
        "reason": erasure.reason,
        "signed_by": erasure.signed_by,
        "signature": erasure.signature,
    }


class KeyService:
    """One region's key service, as one principal."""

    def __init__(self, region: str, url: str, principal: str, settings: Settings) -> None:
        self.region = region
        self.url = url
        self.principal = principal
        self._ca = str(settings.ca_file)
        self._secrets = SecretStore(settings.secrets_dir)
        self._session: requests.Session | None = None
        self._pid = 0

    def session(self) -> requests.Session:
        if self._session is None or self._pid != os.getpid():
            session = requests.Session()
            session.auth = (self.principal, self._secrets.get(self.principal))
            self._session, self._pid = session, os.getpid()
        return self._session

    def call(
        self, method: str, path: str, *, ok: Sequence[int] = (200,), **kwargs: Any
    ) -> requests.Response:
        """The answer, if its status is one of `ok`; KeyServiceDenied on 401/403,
        KeyServiceUnavailable (a RetryAfter) when unreachable or failing after a few attempts;
        KeyServiceError for any other answer."""
        for attempt in range(_ATTEMPTS):
            try:
                # `verify` per request: a session's would yield to REQUESTS_CA_BUNDLE.
                response = self.session().request(
                    method, self.url + API + path, timeout=_TIMEOUT, verify=self._ca, **kwargs
                )
            except requests.RequestException as exc:
                if attempt + 1 == _ATTEMPTS:
                    raise KeyServiceUnavailable(
                        f"key service of {self.region} ({self.url}): {exc}"
                    ) from exc
                time.sleep(0.5 * (attempt + 1))
                continue
            if response.status_code in ok:
                return response
            if response.status_code in (401, 403):
                raise KeyServiceDenied(
                    f"key service of {self.region}: {response.status_code} {_message(response)}"
                )
            if response.status_code >= 500:
                if attempt + 1 < _ATTEMPTS:
                    time.sleep(0.5 * (attempt + 1))
                    continue
                raise KeyServiceUnavailable(
                    f"key service of {self.region}: {method} {path}: {response.status_code} "
                    f"{_message(response)}"
                )
            raise KeyServiceError(
                f"key service of {self.region}: {method} {path}: {response.status_code} "
                f"{_message(response)}"
            )
        raise AssertionError("unreachable")


def _message(response: requests.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:200]


class RemoteKeyStore:
    """The Keys interface (casebus.personal.keystore) over the regions' key services."""

    ahead = True  # a batch's keys in a request per region (`prefetch`)

    def __init__(
        self, settings: Settings, *, principal: str | None = None, reader: str | None = None
    ) -> None:
        self.settings = settings
        self.principal = principal
        self.reader = reader
        self._urls = settings.key_services
        self._services: dict[tuple[str, str], KeyService] = {}
        self._open: dict[str, DataKey | None] = {}
        self._own: dict[tuple[str, str, tuple[str, ...]], DataKey] = {}
        self._denied: set[str] = set()
        self._owner = ""  # the last owner a key was asked for (a producer's principal)
        self.generation = 0

    def service(self, region: str, principal: str) -> KeyService:
        found = self._services.get((region, principal))
        if found is None:
            url = self._urls.get(region)
            if url is None:
                raise KeyServiceError(
                    f"region {region or '(none)'} runs no key service "
                    f"(configured: {', '.join(sorted(self._urls))})"
                )
            found = self._services[(region, principal)] = KeyService(
                region, url, principal, self.settings
            )
        return found

    def _reading_as(self) -> str:
        if self.principal:
            return self.principal
        if self.reader:
            return sync(self.reader)
        raise KeyServiceError("a reader of the key services needs a principal or an agency")

    def _regions(self) -> list[str]:
        return sorted(self._urls)

    # -- producers ---------------------------------------------------------------------------

    def data_key(self, owner: str, subject: str, aliases: Sequence[str] = ()) -> DataKey | None:
        """The owner's data key for this person, from the owner's region's service (made
        there if there is none); None if the person was erased there."""
        cache = (owner, subject, tuple(aliases))
        found = self._own.get(cache)
        if found is not None:
            return found
        principal = self.principal or connector(owner)
        self._owner = owner
        service = self.service(self.settings.key_region_of(owner), principal)
        body = {"owner": owner, "subject": subject, "aliases": list(aliases)}
        response = service.call("POST", "/data-keys", json=body, ok=(200, 410))
        if response.status_code == 410:
            return None
        found = self._own[cache] = _data_key(response.json())
        return found

    # -- readers -----------------------------------------------------------------------------

    def open_key(self, key_id: str, owner: str | None = None) -> DataKey | None:
        """The key, from the service of the owner's region (each service when the owner is
        not given); None if it is destroyed, unknown, or this reader is not granted it (a
        refusal is logged, once per key)."""
        if key_id in self._open:
            return self._open[key_id]
        regions = [self.settings.key_region_of(owner)] if owner is not None else self._regions()
        params = {"agency": self.reader} if self.reader else {}
        found: DataKey | None = None
        for region in regions:
            service = self.service(region, self._reading_as())
            try:
                response = service.call("GET", f"/data-keys/{key_id}", params=params, ok=(200, 404))
            except KeyServiceDenied as exc:
                if key_id not in self._denied:
                    self._denied.add(key_id)
                    log.warning("key %s… not opened: %s", key_id[:8], exc)
                continue
            if response.status_code == 200:
                found = _data_key(response.json())
                break
        self._open[key_id] = found
        return found

    def prefetch(self, wanted: Iterable[tuple[str, str]]) -> None:
        """Fetch ahead, in one request per region and `OPEN_AT_ONCE` keys, the (key id,
        owner) pairs not held yet: a batch's keys instead of a request per person. What a
        region refuses or does not have is remembered as None, as `open_key` would."""
        by_region: dict[str, list[str]] = {}
        for key_id, owner in wanted:
            if key_id not in self._open:
                by_region.setdefault(self.settings.key_region_of(owner), []).append(key_id)
        params = {"agency": self.reader} if self.reader else {}
        for region, ids in by_region.items():
            service = self.service(region, self._reading_as())
            unique = list(dict.fromkeys(ids))
            for start in range(0, len(unique), OPEN_AT_ONCE):
                chunk = unique[start : start + OPEN_AT_ONCE]
                try:
                    body = service.call(
                        "POST", "/data-keys/open", json={"key_ids": chunk, **params}
                    ).json()
                except KeyServiceDenied as exc:
                    log.warning("keys of %s not opened: %s", region, exc)
                    return
                for found in body["keys"]:
                    key = _data_key(found)
                    self._open[key.key_id] = key
                refused = [k for k, why in body["missing"].items() if why == "not granted"]
                if refused:
                    log.warning("%d keys of %s not opened: not granted", len(refused), region)
                    self._denied.update(refused)
                self._open.update(dict.fromkeys(body["missing"]))

    def forget(self) -> None:
        self._open.clear()
        self._own.clear()
        self._denied.clear()
        self.generation += 1

    # -- erasures ----------------------------------------------------------------------------

    def latest_erasure(self) -> object:
        """The last erasure id of every region a reader reads from (of the region holding
        its owner's keys, for a producer): a new erasure there changes it."""
        if self.reader:
            principal, regions = self._reading_as(), self._regions()
        elif self._owner:
            principal = self.principal or connector(self._owner)
            regions = [self.settings.key_region_of(self._owner)]
        else:
            return ()  # a producer that has asked for no key yet holds none to forget
        return tuple((region, self._latest(region, principal)) for region in regions)

    def _latest(self, region: str, principal: str) -> int:
        response = self.service(region, principal).call("GET", "/erasures/latest")
        return int(response.json()["latest"])

    def erasures(self, after: int = 0) -> list[Erasure]:
        """Every region's erasures (`after` applies to each region's own numbering)."""
        found: list[Erasure] = []
        for region in self._regions():
            service = self.service(region, self._reading_as())
            response = service.call("GET", "/erasures", params={"after": after})
            found += [erasure_from(e, region) for e in response.json()["erasures"]]
        return found

    def erased_key_ids(self) -> frozenset[str]:
        return frozenset(k for e in self.erasures() for k in e.key_ids)


def _data_key(body: dict[str, Any]) -> DataKey:
    return DataKey(str(body["key_id"]), str(body["owner"]), base64.b64decode(body["dek"]))
