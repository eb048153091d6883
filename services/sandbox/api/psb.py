"""Police case-receipt system (公安受案系统): receipts of judicial transfers and the filing
decision. API key header, page numbers, Chinese envelope keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Query

from services.sandbox.api.common import bodies, require_key
from services.sandbox.state import SandboxState


def router(state: SandboxState, system: str) -> APIRouter:
    api = APIRouter(prefix=f"/{system}", tags=[system])

    @api.get("/api/receipts")
    def receipts(
        since: int = 0,
        page: int = Query(1, ge=1),
        size: int = Query(50, ge=1, le=500),
        x_api_key: str | None = Header(None),
    ) -> dict[str, Any]:
        require_key(state, system, x_api_key)
        rows = bodies(state, system, since, seq_field="sync_id")
        start = (page - 1) * size
        return {"总数": len(rows), "页码": page, "记录": rows[start : start + size]}

    return api
