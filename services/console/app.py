"""The console's pages (server-rendered, Jinja2 with autoescape; no script).

Staff of an agency read that agency's database only: case search, a case with its linked
cases, records and timeline, a record, transfers due, their connectors' rejects. Admins
read the bus: consumers, DLQs, audits, the cluster; and start case replays and audits.
Access is declared per route and checked by one app-wide guard (services/console/auth.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

from casebus.config import Settings
from services.console import admin_pages, login_pages, staff_pages
from services.console.auth import (
    Forbidden,
    NotFound,
    SignInNeeded,
    access,
    check,
    current_user,
    session_key,
    sign_in_url,
)
from services.console.render import render, templates_for
from services.console.settings import ConsoleSettings
from services.console.throttle import Throttle
from services.console.users import User, UsersError, load_users

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent

# Sent with every answer: no framing, no script, no inline style, forms only to here.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class UserList:
    """The users file and CASEBUS_CONSOLE_USERS, read again when the file changes; a file
    that cannot be read lets nobody in (and says why in the log)."""

    def __init__(self, path: Path, agencies: frozenset[str]) -> None:
        self.path, self.agencies = path, agencies
        self._seen: float | None = -1.0
        self._users: dict[str, User] = {}

    def get(self) -> dict[str, User]:
        try:
            mtime: float | None = self.path.stat().st_mtime
        except OSError:
            mtime = None
        if mtime != self._seen:
            try:
                self._users = load_users(self.path, self.agencies)
            except UsersError as exc:
                log.error("console users unusable, nobody may sign in: %s", exc)
                self._users = {}
            self._seen = mtime
        return self._users


def create_app(settings: Settings, *, clock: Callable[[], float] = time.time) -> FastAPI:
    """The console over `settings`' agency databases and bus."""
    own = ConsoleSettings.of(settings)
    users = UserList(own.users_path(settings), frozenset(settings.agency_by_code))
    templates = templates_for(settings)

    async def guard(request: Request) -> None:
        level = getattr(request.scope.get("endpoint"), "access", None)
        user = current_user(request, users.get(), own.session_max_age_seconds, clock())
        request.state.user = user
        await check(request, level, user)

    app = FastAPI(
        title="casebus console",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(guard)],
    )
    app.state.settings, app.state.own, app.state.users = settings, own, users
    app.state.templates, app.state.clock = templates, clock
    app.state.throttle = Throttle(
        per_user=own.max_failures_per_user,
        per_address=own.max_failures_per_address,
        window_seconds=own.throttle_window_seconds,
        clock=clock,
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_key(own.state_dir(settings)),
        session_cookie="casebus_console",
        max_age=own.session_max_age_seconds,
        same_site="strict",
        https_only=own.secure_cookies,
    )

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def error_page(request: Request, status: int, message: str) -> Response:
        return render(request, "error.html", status=status, message=message)

    @app.exception_handler(SignInNeeded)
    async def _sign_in(request: Request, exc: SignInNeeded) -> Response:
        return RedirectResponse(sign_in_url(request), status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return error_page(request, 403, str(exc) or "无权访问")

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> Response:
        return error_page(request, 404, "未找到：本单位数据库中没有此内容")

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            return error_page(request, 404, "未找到此页面")
        return error_page(request, exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _failed(request: Request, exc: Exception) -> Response:
        log.exception("%s %s failed", request.method, request.url.path)
        return error_page(request, 500, "出错了：请稍后再试，或联系系统管理员")

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    for router in (login_pages.router, staff_pages.router, admin_pages.router):
        app.include_router(router)

    @app.get("/healthz")
    @access("public")
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return app
