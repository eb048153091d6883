"""Market supervision case system (市场监管案件系统): one change feed of penalties, leads,
transfers, enforcement actions and case links. API key header, page numbers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Query

from services.sandbox.api.common import bodies, require_key
from services.sandbox.state import SandboxState


def router(state: SandboxState, system: str) -> APIRouter:
    api = APIRouter(prefix=f"/{system}", tags=[system])

    @api.get("/api/v1/records")
    def records(
        since: int = 0,
        page: int = Query(1, ge=1),
        page_size: int = Query(50, ge=1, le=500),
        x_api_key: str | None = Header(None),
    ) -> dict[str, Any]:
        require_key(state, system, x_api_key)
        rows = bodies(state, system, since, seq_field="seq")
        start = (page - 1) * page_size
        return {
            "total": len(rows),
            "page": page,
            "page_size": page_size,
            "records": rows[start : start + page_size],
        }

    return api
