"""Commerce bureau e-commerce supervision system (商务局电商监管): penalties on e-commerce
operators. POST query, `appKey` header, camelCase, pageNo/pageSize."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header
from pydantic import BaseModel, Field

from services.sandbox.api.common import bodies, require_key
from services.sandbox.state import SandboxState


class Query(BaseModel):
    syncSeq: int = 0  # the source system's own field names
    pageNo: int = Field(1, ge=1)
    pageSize: int = Field(50, ge=1, le=500)


def router(state: SandboxState, system: str) -> APIRouter:
    api = APIRouter(prefix=f"/{system}", tags=[system])

    @api.post("/openapi/punish/query")
    def query(body: Query, appkey: str | None = Header(None)) -> dict[str, Any]:
        require_key(state, system, appkey)
        rows = bodies(state, system, body.syncSeq, seq_field="syncSeq")
        start = (body.pageNo - 1) * body.pageSize
        return {
            "success": True,
            "totalCount": len(rows),
            "list": rows[start : start + body.pageSize],
        }

    return api
