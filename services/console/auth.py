"""Who is asking, and may they: sessions, access levels, CSRF, deny by default.

Every route declares its access level with `@access(...)`; the app-wide dependency
`guard` refuses a route that declares none (403), sends an anonymous caller of a signed-in
route to the sign-in page (303), refuses a caller of the wrong role (403), and refuses a
POST whose CSRF token is not the session's (403). A session is a cookie signed with the
console's key (Starlette's SessionMiddleware, itsdangerous), ended `session_max_age_seconds`
after sign-in however active it was, and dropped when its user is gone from the users list
or has changed agency.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import quote

from fastapi import Request

from services.console.users import User

log = logging.getLogger(__name__)

Level = Literal["public", "signed-in", "staff", "admin"]
SESSION_KEY_ENV = "CASEBUS_CONSOLE_SESSION_KEY"
F = TypeVar("F", bound=Callable[..., object])


class SignInNeeded(Exception):
    """Anonymous, or the session ended: answered with 303 to the sign-in page."""


class Forbidden(Exception):
    """Signed in, but not allowed here (or a bad CSRF token): 403."""


class NotFound(Exception):
    """Nothing here for this user, whether it exists elsewhere or not: 404."""


def access(level: Level) -> Callable[[F], F]:
    """Declare who may call a route; a route without it is refused."""

    def mark(endpoint: F) -> F:
        endpoint.access = level  # type: ignore[attr-defined]
        return endpoint

    return mark


def session_key(state_dir: Path) -> str:
    """The cookie-signing key: CASEBUS_CONSOLE_SESSION_KEY, else a file of its own made on
    first start (mode 0600); several console processes must share it."""
    given = os.environ.get(SESSION_KEY_ENV)
    if given:
        return given
    path = state_dir / "session.key"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made when the session is."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def sign_in(request: Request, user: User, now: float) -> None:
    """A new session for the user (a fresh token: none of the anonymous one carries over)."""
    request.session.clear()
    request.session.update(
        user=user.name, agency=user.agency, signed_in_at=now, csrf=secrets.token_urlsafe(32)
    )


def current_user(
    request: Request, users: dict[str, User], max_age: float, now: float | None = None
) -> User | None:
    name, started = request.session.get("user"), request.session.get("signed_in_at")
    if not isinstance(name, str) or not isinstance(started, int | float):
        return None
    user = users.get(name)
    expired = (now or time.time()) - started >= max_age
    if user is None or expired or user.agency != request.session.get("agency"):
        request.session.clear()
        return None
    return user


async def check(request: Request, level: Level | None, user: User | None) -> None:
    """Raise what the caller gets instead of the page; return when it may have it."""
    if level is None:
        log.error("route %s declares no access level: refused", request.url.path)
        raise Forbidden("this page declares no access")
    if level != "public":
        if user is None:
            raise SignInNeeded()
        if (level == "staff" and user.is_admin) or (level == "admin" and not user.is_admin):
            raise Forbidden("not for your role")
    if request.method == "POST":
        form = await request.form()
        sent = form.get("csrf_token")
        expected = request.session.get("csrf")
        if not (
            isinstance(sent, str)
            and isinstance(expected, str)
            and hmac.compare_digest(sent.encode(), expected.encode())
        ):
            raise Forbidden("the form's security token is missing or stale: reload the page")


def sign_in_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(target, safe="")


def safe_next(target: str | None) -> str:
    """Only a path of this site: no scheme, no host, no `//` (an open redirect otherwise)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
