"""Cyberspace administration monitoring system (网信办网络内容监测): live-stream clues.
`Authorization: ApiKey <key>`, offset/limit paging, `{"code": 0, "data": {...}}` envelope."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Query

from services.sandbox.api.common import bodies, require_key
from services.sandbox.state import SandboxState


def router(state: SandboxState, system: str) -> APIRouter:
    api = APIRouter(prefix=f"/{system}", tags=[system])

    @api.get("/api/clues")
    def clues(
        after: int = 0,
        offset: int = Query(0, ge=0),
        limit: int = Query(20, ge=1, le=200),
        authorization: str | None = Header(None),
    ) -> dict[str, Any]:
        key = authorization.removeprefix("ApiKey ") if authorization else None
        require_key(state, system, key)
        rows = bodies(state, system, after, seq_field="change_no")
        return {
            "code": 0,
            "msg": "成功",
            "data": {"total": len(rows), "rows": rows[offset : offset + limit]},
        }

    return api
