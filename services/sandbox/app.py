"""The sandbox app: every source system under its own path prefix, plus /admin.

    /samr-luzhou, /samr-qijiang   market supervision case systems
    /cac-luzhou                   cyberspace administration monitoring
    /psb-luzhou, /psb-qijiang     police case receipts
    /com-luzhou                   commerce bureau
    /alibaba, /jd, /douyin        platforms

Data requests go through the fault injector (rate limit → 429 with Retry-After, random
5xx at `error_rate`, added latency); token endpoints and /admin do not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.sandbox.api import alibaba, cac, com, douyin, jd, psb, samr
from services.sandbox.data.clock import MAX_TICK
from services.sandbox.state import SandboxState

ROUTERS = {
    "samr-luzhou": samr,
    "samr-qijiang": samr,
    "cac-luzhou": cac,
    "psb-luzhou": psb,
    "psb-qijiang": psb,
    "com-luzhou": com,
    "alibaba": alibaba,
    "jd": jd,
    "douyin": douyin,
}
_NO_FAULTS = ("oauth", "token")


class TickRequest(BaseModel):
    to: int | None = Field(None, ge=0)  # absent: advance by one


class FaultsRequest(BaseModel):
    error_rate: float | None = None
    rate_limit_per_second: float | None = None
    latency_ms: float | None = None
    retry_after_seconds: int | None = None


def create_app(state: SandboxState) -> FastAPI:
    app = FastAPI(title="casebus sandbox source systems", version="1")
    app.state.sandbox = state
    for system, module in ROUTERS.items():
        app.include_router(module.router(state, system))

    @app.middleware("http")
    async def faults(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        parts = request.url.path.strip("/").split("/")
        system = parts[0]
        if system not in ROUTERS or any(p in _NO_FAULTS for p in parts):
            return await call_next(request)
        f = state.faults
        if f.latency_ms:
            await asyncio.sleep(f.latency_ms / 1000)
        fault = state.fault_for(system)
        if fault == "throttle":
            return JSONResponse(
                {"error": "rate limit exceeded"},
                status_code=429,
                headers={"Retry-After": str(f.retry_after_seconds)},
            )
        if fault == "fail":
            return JSONResponse({"error": "upstream unavailable"}, status_code=503)
        return await call_next(request)

    @app.post("/admin/tick")
    def tick(body: TickRequest) -> dict[str, int]:
        state.tick = min(MAX_TICK, body.to if body.to is not None else state.tick + 1)
        return {"tick": state.tick}

    @app.post("/admin/faults")
    def set_faults(body: FaultsRequest) -> dict[str, Any]:
        for key, value in body.model_dump(exclude_none=True).items():
            setattr(state.faults, key, value)
        return vars(state.faults)

    @app.get("/admin/stats")
    def stats() -> dict[str, Any]:
        return {"tick": state.tick, "systems": {k: vars(v) for k, v in state.counters.items()}}

    @app.get("/admin/truth/{system}")
    def truth(system: str) -> list[dict[str, Any]]:
        """What a complete pull of `system` at the current tick must see (for tests)."""
        return state.world[system].truth(state.tick)

    return app
