"""Signing in and out, and the start page that sends each role to its own pages."""

from __future__ import annotations

import logging
import math

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.console.auth import access, safe_next, sign_in
from services.console.render import render
from services.console.throttle import Throttle
from services.console.users import authenticate

log = logging.getLogger(__name__)
router = APIRouter()

MAX_FIELD = 200


@router.get("/")
@access("signed-in")
def home(request: Request) -> Response:
    return RedirectResponse("/admin" if request.state.user.is_admin else "/cases", status_code=303)


@router.get("/login")
@access("public")
def login_form(request: Request, next: str = "/") -> Response:
    if request.state.user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", next=safe_next(next))


@router.post("/login")
@access("public")
async def login(request: Request) -> Response:
    form = await request.form()
    name = str(form.get("username") or "")[:MAX_FIELD].strip()
    password = str(form.get("password") or "")[:MAX_FIELD]
    target = safe_next(str(form.get("next") or "/"))
    address = request.client.host if request.client else "unknown"
    throttle: Throttle = request.app.state.throttle
    wait = throttle.wait_seconds(name, address)
    if wait > 0:
        log.warning("sign-in of %r from %s refused: too many failures", name, address)
        minutes = max(1, math.ceil(wait / 60))
        message = f"登录失败次数过多，请 {minutes} 分钟后再试。"
        return render(request, "login.html", status=429, next=target, error=message, username=name)
    user = authenticate(request.app.state.users.get(), name, password)
    if user is None:
        throttle.failed(name, address)
        log.warning("sign-in of %r from %s: wrong user name or password", name, address)
        message = "用户名或密码错误。"
        return render(request, "login.html", status=401, next=target, error=message, username=name)
    throttle.succeeded(name)
    sign_in(request, user, request.app.state.clock())
    log.info("%s signed in from %s", name, address)
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
@access("signed-in")
def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
