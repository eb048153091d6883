"""JD open platform: bearer token from a token endpoint (expires), opaque cursor paging."""

from __future__ import annotations

import base64
import hmac
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Header, HTTPException, Query, Request

from services.sandbox.api.common import bodies
from services.sandbox.state import SandboxState


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode().split(":", 1)[1])
    except (ValueError, IndexError) as exc:
        raise HTTPException(400, detail={"code": "40001", "message": "bad cursor"}) from exc


def router(state: SandboxState, system: str) -> APIRouter:
    api = APIRouter(prefix=f"/{system}", tags=[system])

    @api.post("/oauth2/token")
    async def token(request: Request) -> dict[str, Any]:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        cid, secret = state.credentials[system].split(":", 1)
        ok = hmac.compare_digest(form.get("client_id", ""), cid) and hmac.compare_digest(
            form.get("client_secret", ""), secret
        )
        if form.get("grant_type") != "client_credentials" or not ok:
            raise HTTPException(401, detail={"error": "invalid_client"})
        return {"access_token": state.issue_token(600), "token_type": "bearer", "expires_in": 600}

    @api.get("/api/ipr/infringements")
    def infringements(
        cursor: str = "",
        limit: int = Query(50, ge=1, le=200),
        authorization: str | None = Header(None),
    ) -> dict[str, Any]:
        if not authorization or not state.token_ok(authorization.removeprefix("Bearer ")):
            raise HTTPException(401, detail={"code": "401", "message": "token expired or invalid"})
        rows = bodies(state, system, decode_cursor(cursor), seq_field="_seq")[:limit]
        last = rows[-1]["_seq"] if rows else decode_cursor(cursor)
        for row in rows:
            del row["_seq"]
        more = bool(state.rows(system, last))
        return {
            "code": "0",
            "result": {"data": rows, "nextCursor": encode_cursor(last), "hasMore": more},
        }

    return api
