"""Routes of a region's key service (`casebus --region R keys serve`).

It holds the region's key store (the wrapped data keys in SQLite, the key-encryption keys
with a LocalKms: they never leave it) and answers, over HTTPS, for the owners whose keys the
region holds. JSON, bytes in base64; every route authenticated (HTTP Basic) and refused
unless a rule of services/keys/access.py allows it. The handlers are `async` and so run one
at a time on the event loop: the key store's SQLite connection stays on one thread.
"""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from casebus.config import Settings
from casebus.observability.http import RequestMetrics
from casebus.personal.erasure import verify
from casebus.personal.keystore import ChangedKeys, Erasure, KeyStore, erasure_body
from casebus.personal.remote import erasure_json
from casebus.provenance.keys import trust_list
from services.keys.access import REALM, Access, Caller, Denied

log = logging.getLogger(__name__)
OPEN_AT_ONCE = 1000  # key ids in one `POST /v1/data-keys/open`


class KeyRequest(BaseModel):
    owner: str = Field(min_length=1)
    subject: str = Field(min_length=1)
    aliases: list[str] = []


class OpenRequest(BaseModel):
    """Several keys at once (a sync's batch): `agency` as in `GET /v1/data-keys/{id}`."""

    key_ids: list[str] = Field(max_length=OPEN_AT_ONCE)
    agency: str | None = None


class SubjectRequest(BaseModel):
    subject: str = Field(min_length=1)


class ErasureRequest(BaseModel):
    """An erasure signed by the agency that asks for it (the CLI signs with its key)."""

    subject: str = Field(min_length=1)
    key_ids: list[str]
    erased_at: str
    erased_by: str
    reason: str = ""
    signed_by: str
    signature: str


def _denied(exc: Denied) -> JSONResponse:
    response = JSONResponse(exc.body(), status_code=exc.status)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = REALM
    if exc.status == 403:
        log.warning("refused: %s", exc, extra={"outcome": "denied"})
    return response


def create_app(settings: Settings, store: KeyStore, access: Access, region: str) -> FastAPI:
    app = FastAPI(title=f"casebus key service ({region})")

    @app.exception_handler(Denied)
    async def _on_denied(request: Request, exc: Denied) -> JSONResponse:
        return _denied(exc)

    @app.middleware("http")
    async def _authenticate(request: Request, call_next: Any) -> Response:
        try:
            request.state.caller = access.caller(request.headers.get("authorization"))
        except Denied as exc:
            return _denied(exc)
        response: Response = await call_next(request)
        return response

    def caller(request: Request) -> Caller:
        found: Caller = request.state.caller
        return found

    def key_json(key_id: str, owner: str, dek: bytes) -> dict[str, str]:
        return {"key_id": key_id, "owner": owner, "dek": base64.b64encode(dek).decode("ascii")}

    @app.post("/v1/data-keys")
    async def data_key(request: Request, body: KeyRequest) -> JSONResponse:
        """Get or make the owner's data key for a person: the owner's producers only."""
        who = caller(request)
        access.may_make(who, body.owner)
        held = settings.key_region_of(body.owner)
        if held != region:
            raise Denied(
                403,
                who.name,
                "owner-region",
                f"{who.name}: the keys of {body.owner} are held by region {held}'s key "
                f"service, not {region}'s",
            )
        found = store.data_key(body.owner, body.subject, body.aliases)
        if found is None:
            return JSONResponse(
                {"detail": "the person was erased: no key is made for them", "erased": True},
                status_code=410,
            )
        return JSONResponse(key_json(found.key_id, found.owner, found.dek))

    @app.get("/v1/data-keys/{key_id}")
    async def open_key(request: Request, key_id: str, agency: str | None = None) -> JSONResponse:
        """A key by id, for an agency the key's owner grants (or the owner itself)."""
        who = caller(request)
        reader = access.reader(who, agency)
        owner = store.owner_of(key_id)
        if owner is None:
            erased = key_id in store.erased_key_ids()
            what = "destroyed by an erasure" if erased else "unknown"
            return JSONResponse(
                {"detail": f"key {key_id}: {what}", "erased": erased}, status_code=404
            )
        access.may_open(who, reader, owner)
        found = store.open_key(key_id)
        if found is None:  # its key-encryption key is not here
            return JSONResponse(
                {"detail": f"key {key_id}: cannot be unwrapped here", "erased": False},
                status_code=404,
            )
        return JSONResponse(key_json(found.key_id, found.owner, found.dek))

    @app.post("/v1/data-keys/open")
    async def open_keys(request: Request, body: OpenRequest) -> JSONResponse:
        """The keys of `key_ids` this agency may open; for each other one why not (erased,
        unknown, not granted, cannot be unwrapped here). The same rules as one key."""
        who = caller(request)
        reader = access.reader(who, body.agency)
        keys: list[dict[str, str]] = []
        missing: dict[str, str] = {}
        erased: frozenset[str] | None = None
        refused: set[str] = set()
        for key_id in dict.fromkeys(body.key_ids):
            owner = store.owner_of(key_id)
            if owner is None:
                erased = store.erased_key_ids() if erased is None else erased
                missing[key_id] = "erased" if key_id in erased else "unknown"
                continue
            try:
                access.may_open(who, reader, owner)
            except Denied:
                missing[key_id] = "not granted"
                refused.add(owner)
                continue
            found = store.open_key(key_id)
            if found is None:
                missing[key_id] = "cannot be unwrapped here"
                continue
            keys.append(key_json(found.key_id, found.owner, found.dek))
        if refused:
            log.warning(
                "refused: %s: %s is not granted the personal fields of %s",
                who.name,
                reader,
                ", ".join(sorted(refused)),
                extra={"outcome": "denied"},
            )
        return JSONResponse({"keys": keys, "missing": missing})

    @app.get("/v1/erasures")
    async def erasures(request: Request, after: int = 0) -> JSONResponse:
        access.may_list(caller(request))
        found = store.erasures(after)
        return JSONResponse({"region": region, "erasures": [erasure_json(e) for e in found]})

    @app.get("/v1/erasures/latest")
    async def latest(request: Request) -> JSONResponse:
        access.may_list(caller(request), latest_only=True)
        return JSONResponse({"region": region, "latest": store.latest_erasure()})

    @app.post("/v1/erasures/prepare")
    async def prepare(request: Request, body: SubjectRequest) -> JSONResponse:
        """What an erasure of this person would destroy now, for the admin to sign."""
        access.may_erase(caller(request))
        ref, key_ids = store.keys_of(body.subject)
        erased_at = datetime.now(UTC).isoformat()
        return JSONResponse(
            {"region": region, "subject_ref": ref, "key_ids": key_ids, "erased_at": erased_at}
        )

    @app.post("/v1/erasures")
    async def erase(request: Request, body: ErasureRequest) -> JSONResponse:
        """Destroy the person's keys and log the erasure, if its signature (by an agency's
        key of the trust list, over exactly these key ids) verifies."""
        who = caller(request)
        access.may_erase(who)
        ref = store.subject_ref(body.subject)
        record = Erasure(
            0,
            ref,
            tuple(sorted(body.key_ids)),
            body.erased_at,
            body.erased_by,
            body.reason,
            body.signed_by,
            body.signature,
        )
        signer = next((k for k in trust_list(settings) if k.key_id == body.signed_by), None)
        if signer is None or signer.owner not in settings.agency_by_code:
            raise Denied(
                403,
                who.name,
                "signed-by-agency",
                f"{who.name}: key {body.signed_by} is no agency's key in the trust list",
            )
        if not verify(settings, record):
            raise Denied(
                403,
                who.name,
                "signature",
                f"{who.name}: the erasure's signature does not verify with key {body.signed_by}",
            )
        try:
            _, destroyed = store.destroy(body.subject, expected=body.key_ids)
        except ChangedKeys as exc:
            return JSONResponse(
                {"detail": f"prepare and sign again: {exc}", "retry": True}, status_code=409
            )
        assert erasure_body(ref, destroyed, body.erased_at, body.erased_by, body.reason) == (
            record.body()
        )
        number = store.record_erasure(record)
        log.warning(
            "erasure %d: %d data keys destroyed (subject %s…) by %s",
            number,
            len(destroyed),
            ref[:12],
            body.erased_by,
            extra={"outcome": "erased"},
        )
        done = Erasure(number, *(getattr(record, f) for f in _FIELDS))
        return JSONResponse({"region": region, **erasure_json(done)}, status_code=201)

    # Last: outermost, it counts every answer, those of the middleware above included.
    app.add_middleware(RequestMetrics, service="keys", routes=app.routes)
    return app


_FIELDS = (
    "subject_ref",
    "key_ids",
    "erased_at",
    "erased_by",
    "reason",
    "signed_by",
    "signature",
)
