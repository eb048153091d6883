"""Serve the sandbox: in a background thread (tests, demo) or in the foreground (CLI)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import uvicorn

from casebus.config import Settings
from services.sandbox.app import ROUTERS, create_app
from services.sandbox.settings import SandboxSettings
from services.sandbox.state import SandboxState, make_state

log = logging.getLogger(__name__)


@dataclass
class SandboxHandle:
    base_url: str  # e.g. http://127.0.0.1:8090
    urls: dict[str, str]  # system -> its base URL
    credentials: dict[str, str]  # environment variable -> secret the sandbox accepts
    state: SandboxState
    stop: Callable[[], None]

    def export_credentials(self, environ: dict[str, str] | None = None) -> None:
        """Put the sandbox's secrets where the connectors look for them."""
        target = os.environ if environ is None else environ
        target.update(self.credentials)


def _handle(state: SandboxState, base_url: str, stop: Callable[[], None]) -> SandboxHandle:
    return SandboxHandle(
        base_url=base_url,
        urls={system: f"{base_url}/{system}" for system in ROUTERS},
        credentials={state.env_names[s]: state.credentials[s] for s in state.env_names},
        state=state,
        stop=stop,
    )


def start_sandbox(settings: Settings, *, port: int | None = None) -> SandboxHandle:
    """Serve the sandbox from a daemon thread; port 0 picks a free one. Returns once it
    answers; call `handle.stop()` to shut it down."""
    state = make_state(settings, dict(os.environ))
    own = SandboxSettings.of(settings)
    config = uvicorn.Config(
        create_app(state),
        host=own.host,
        port=own.port if port is None else port,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"sandbox did not start on {own.host}:{config.port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    base = f"http://{own.host}:{bound}"
    log.info("sandbox serving on %s", base)
    return _handle(state, base, stop)


def serve(settings: Settings) -> None:
    """Serve in the foreground until interrupted (`casebus sandbox serve`)."""
    state = make_state(settings, dict(os.environ))
    own = SandboxSettings.of(settings)
    base = f"http://{own.host}:{own.port}"
    for name, secret in _handle(state, base, lambda: None).credentials.items():
        if name not in os.environ:
            print(f"export {name}={secret}", flush=True)
    uvicorn.run(
        create_app(state),
        host=own.host,
        port=own.port,
        log_config=None,  # its lines go through casebus's handler (--log-format)
    )


def with_sandbox_urls(settings: Settings, base_url: str, **connector_updates: object) -> Settings:
    """Settings whose connectors point at a sandbox served at `base_url` (any port)."""
    new = urlsplit(base_url)
    connectors = []
    for c in settings.connectors:
        old = urlsplit(c.base_url)
        url = urlunsplit((new.scheme, new.netloc, old.path, old.query, old.fragment))
        connectors.append(c.model_copy(update={"base_url": url, **connector_updates}))
    return settings.model_copy(update={"connectors": tuple(connectors)})
