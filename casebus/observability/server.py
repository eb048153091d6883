"""The observability port of a service: `/metrics` (prometheus_client's WSGI app),
`/healthz` and `/readyz` (JSON, 200 or 503 naming the failing checks), served by a small
threaded WSGI server on a thread of its own, the same for the loops (sync, feeds, the
connector runner) and the FastAPI services (ingest, registry), which keep their API port
free of it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from casebus.config import ConfigError
from casebus.observability.health import Health, Verdict

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes every few seconds
        pass


def _json(start: StartResponse, verdict: Verdict) -> Iterable[bytes]:
    body = json.dumps(verdict.body()).encode()
    status = "200 OK" if verdict.ok else "503 Service Unavailable"
    start(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def wsgi_app(health: Health) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    metrics = make_wsgi_app()

    def app(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            return _json(start, health.live())
        if path == "/readyz":
            return _json(start, health.ready())
        if path in ("/metrics", "/"):
            result: Iterable[bytes] = metrics(environ, start)
            return result
        start("404 Not Found", [("Content-Type", "text/plain")])
        return [b"/metrics, /healthz or /readyz\n"]

    return app


class ObservabilityServer:
    """Serves `health` and the metrics on host:port (port 0: any free port, see `.port`)."""

    def __init__(self, health: Health, host: str, port: int) -> None:
        self.health = health
        try:
            self._server = make_server(
                host, port, wsgi_app(health), server_class=_Server, handler_class=_Quiet
            )
        except OSError as exc:  # in use, most likely: say which setting chose it
            raise ConfigError(
                f"{health.service}: cannot serve metrics on {host}:{port} ({exc.strerror}); "
                "choose another port with --metrics-port or in [metrics] of the config"
            ) from None
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"{health.service}-metrics", daemon=True
        )

    def start(self) -> ObservabilityServer:
        self._thread.start()
        log.info("%s: metrics, /healthz and /readyz on port %d", self.health.service, self.port)
        return self

    def close(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for a loop that never started
            self._server.shutdown()
        self._server.server_close()
