"""Douyin open platform: client token, `access-token` header, POST list with
`cursor`/`count`, answers `has_more` and the next `cursor`."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.sandbox.api.common import bodies
from services.sandbox.state import SandboxState


class TokenRequest(BaseModel):
    client_key: str
    client_secret: str
    grant_type: str


class ListRequest(BaseModel):
    cursor: int = 0
    count: int = Field(20, ge=1, le=100)


def _fail(code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"data": {"error_code": code, "description": message}, "message": "error"},
        status_code=401,
    )


def router(state: SandboxState, system: str) -> APIRouter:
    api = APIRouter(prefix=f"/{system}", tags=[system])

    @api.post("/oauth/client_token/", response_model=None)
    def token(body: TokenRequest) -> dict[str, Any] | JSONResponse:
        key, secret = state.credentials[system].split(":", 1)
        if not (
            body.grant_type == "client_credential"
            and hmac.compare_digest(body.client_key, key)
            and hmac.compare_digest(body.client_secret, secret)
        ):
            return _fail(10003, "client_key or client_secret invalid")
        return {
            "data": {"access_token": state.issue_token(600), "expires_in": 600, "error_code": 0},
            "message": "success",
        }

    @api.post("/api/governance/violation/list/", response_model=None)
    def violations(
        body: ListRequest,
        access_token: str | None = Header(None),
        x_app_key: str | None = Header(None),
    ) -> dict[str, Any] | JSONResponse:
        if x_app_key != state.credentials[system].split(":", 1)[0]:
            return _fail(10002, "app key invalid")
        if not access_token or not state.token_ok(access_token):
            return _fail(2190008, "access_token expired")
        rows = bodies(state, system, body.cursor, seq_field="_seq")[: body.count]
        cursor = rows[-1]["_seq"] if rows else body.cursor
        for row in rows:
            del row["_seq"]
        return {
            "data": {
                "list": rows,
                "has_more": bool(state.rows(system, cursor)),
                "cursor": cursor,
                "error_code": 0,
            },
            "extra": {"logid": f"sandbox-{cursor}"},
        }

    return api
