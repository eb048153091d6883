"""The sandbox's mutable state: the clock, the faults to inject, secrets and counters."""

from __future__ import annotations

import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from casebus.config import Settings
from services.sandbox.data.store import SystemData
from services.sandbox.data.world import SYSTEMS, build_world
from services.sandbox.settings import SandboxSettings

# How each system's credentials look in the environment variable its connector names.
PAIRED = {"alibaba", "jd", "douyin"}  # "<key>:<secret>"; agencies use one API key


@dataclass
class Faults:
    error_rate: float
    rate_limit_per_second: float
    latency_ms: float
    retry_after_seconds: int


@dataclass
class Counters:
    requests: int = 0
    throttled: int = 0
    failed: int = 0


@dataclass
class SandboxState:
    settings: Settings
    world: dict[str, SystemData]
    faults: Faults
    credentials: dict[str, str]  # system -> secret (as in the connector's env variable)
    env_names: dict[str, str]  # system -> env variable name its connector reads
    tick: int = 0
    counters: dict[str, Counters] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)  # access token -> expiry
    _rng: random.Random = field(default_factory=random.Random)
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def data(self, system: str) -> SystemData:
        return self.world[system]

    def rows(self, system: str, since: int) -> list[tuple[Any, Any]]:
        return self.world[system].changed_since(self.tick, since)

    def count(self, system: str) -> Counters:
        return self.counters.setdefault(system, Counters())

    def fault_for(self, system: str) -> str | None:
        """'throttle', 'fail' or None for the next data request to `system`."""
        with self._lock:
            counters = self.count(system)
            counters.requests += 1
            # Token bucket, burst of one second's worth.
            rate = self.faults.rate_limit_per_second
            now = time.monotonic()
            level, last = self._buckets.get(system, (rate, now))
            level = min(rate, level + (now - last) * rate)
            if level < 1:
                self._buckets[system] = (level, now)
                counters.throttled += 1
                return "throttle"
            self._buckets[system] = (level - 1, now)
            if self._rng.random() < self.faults.error_rate:
                counters.failed += 1
                return "fail"
            return None

    def issue_token(self, ttl: float = 600) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.tokens[token] = time.monotonic() + ttl
        return token

    def token_ok(self, token: str) -> bool:
        return self.tokens.get(token, 0) > time.monotonic()


def env_names(settings: Settings) -> dict[str, str]:
    """system -> the environment variable its configured connector reads."""
    names = {}
    for c in settings.connectors:
        system = c.base_url.rstrip("/").rsplit("/", 1)[-1]
        if system in SYSTEMS and c.credentials_env:
            names[system] = c.credentials_env
    return names


def make_state(settings: Settings, environ: dict[str, str]) -> SandboxState:
    cfg = SandboxSettings.of(settings)
    names = env_names(settings)
    creds = {}
    for system in SYSTEMS:
        given = environ.get(names.get(system, ""), "")
        if given:
            creds[system] = given
        elif system in PAIRED:
            creds[system] = f"{secrets.token_hex(8)}:{secrets.token_hex(16)}"
        else:
            creds[system] = secrets.token_hex(16)
    return SandboxState(
        settings=settings,
        world=build_world(settings),
        faults=Faults(
            cfg.error_rate, cfg.rate_limit_per_second, cfg.latency_ms, cfg.retry_after_seconds
        ),
        credentials=creds,
        env_names=names,
        _rng=random.Random(cfg.seed),
    )
