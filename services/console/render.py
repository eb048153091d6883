"""Pages rendered from the templates, with what every page shows (user, CSRF token) and the
helpers the templates use (labels, names, URLs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from casebus.config import Settings
from services.console import labels
from services.console.auth import csrf_token
from services.console.users import User

HERE = Path(__file__).resolve().parent


def templates_for(settings: Settings) -> Jinja2Templates:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
    env.globals.update(
        labels=labels,
        agency_name=lambda code: party_name(settings, code),
        region_name=lambda code: next(
            (r.name for r in settings.regions if r.code == code), code or ""
        ),
        case_url=lambda case_id: "/cases/" + quote(case_id, safe=""),
        record_url=lambda kind, owner, record_id: (
            "/records/" + "/".join(quote(p, safe="") for p in (kind, owner, record_id))
        ),
    )
    env.filters.update(when=labels.when, display=labels.display, pretty=_pretty)
    return Jinja2Templates(env=env)


def _pretty(value: Any) -> str:
    """JSON for reading (escaped by the template like any text)."""
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def party_name(settings: Settings, code: str | None) -> str:
    if not code:
        return ""
    agency = settings.agency_by_code.get(code)
    if agency is not None:
        return agency.name
    return next((p.name for p in settings.platforms if p.code == code), code)


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    user: User | None = getattr(request.state, "user", None)
    body = {
        "user": user,
        "csrf": csrf_token(request),
        "path": request.url.path,
        "status_code": status,
        **context,
    }
    return templates.TemplateResponse(request, template, body, status_code=status)
