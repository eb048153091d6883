"""Alibaba open platform (Taobao TOP style): every request signed with HMAC-SHA256 over the
sorted parameters and a timestamp; page numbers; `<method>_response` envelope."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.sandbox.api.common import bodies
from services.sandbox.state import SandboxState

METHOD = "taobao.ipr.complaints.get"


def sign(params: dict[str, str], secret: str) -> str:
    """TOP signature: HMAC-SHA256(secret, k1v1k2v2... over sorted keys), upper-case hex."""
    text = "".join(f"{k}{params[k]}" for k in sorted(params) if k != "sign")
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest().upper()


def _error(code: int, msg: str) -> JSONResponse:
    return JSONResponse({"error_response": {"code": code, "msg": msg}}, status_code=401)


def router(state: SandboxState, system: str) -> APIRouter:
    api = APIRouter(prefix=f"/{system}", tags=[system])

    @api.get("/router/rest", response_model=None)
    def rest(request: Request) -> dict[str, Any] | JSONResponse:
        params = dict(request.query_params)
        app_key, secret = state.credentials[system].split(":", 1)
        if params.get("app_key") != app_key:
            return _error(29, "Invalid app Key")
        try:
            stamp = datetime.strptime(params.get("timestamp", ""), "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return _error(31, "Invalid timestamp")
        if abs(datetime.now() - stamp) > timedelta(minutes=10):
            return _error(31, "Invalid timestamp: out of the allowed window")
        if not hmac.compare_digest(params.get("sign", ""), sign(params, secret)):
            return _error(25, "Invalid signature")
        if params.get("method") != METHOD:
            return _error(22, "Invalid method")
        page_no = max(1, int(params.get("page_no", "1")))
        page_size = min(100, max(1, int(params.get("page_size", "40"))))
        rows = bodies(state, system, int(params.get("start_seq", "0")), seq_field="sync_seq")
        start = (page_no - 1) * page_size
        return {
            "ipr_complaints_get_response": {
                "total_results": len(rows),
                "complaints": {"complaint": rows[start : start + page_size]},
                "request_id": hashlib.md5(str(params).encode()).hexdigest()[:13],
            }
        }

    return api
