"""Requests of an ASGI service (ingest, registry) counted by route and status, and timed.

A plain ASGI middleware, added last so that it sees every answer (the registry's
authentication answers 401 before any route is reached): the route is the matched path
template (`/subjects/{subject}/versions`: the router's `scope["route"]`, or, for an answer
given before routing, the first of `routes` matching the request), never the raw path, so
the label's values stay few; a request no route matches is counted as `(unmatched)`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from casebus.observability import metrics as m

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestMetrics:
    def __init__(self, app: ASGIApp, service: str, routes: Sequence[Any] = ()) -> None:
        self.app, self.service, self.routes = app, service, routes  # Starlette routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless the app answers

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = self._template(scope)
            m.HTTP_REQUESTS.labels(self.service, route, str(status)).inc()
            m.HTTP_SECONDS.labels(self.service, route).observe(time.perf_counter() - started)

    def _template(self, scope: Scope) -> str:
        found = scope.get("route")
        if found is None:
            for route in self.routes:
                if route.matches(scope)[0].name == "FULL":
                    found = route
                    break
        return str(getattr(found, "path", None) or "(unmatched)")
