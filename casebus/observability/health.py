"""Liveness and readiness, decided the same way for every service.

- Live (`/healthz`): the service's loop turned within `live_after` seconds (its
  `Heartbeat`); a service without a loop of its own (ingest, registry) is live while its
  HTTP server answers.
- Ready (`/readyz`): every named check passes. A check is a function answering None (fine)
  or what is wrong; those that need the network (Kafka, the registry, the database) are run
  by a `Watcher` thread every few seconds, so `/readyz` itself only reads their last answers
  and costs nothing. A check that has not answered yet counts as failing ("not checked yet").
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from casebus.observability import metrics as m

log = logging.getLogger(__name__)

Check = Callable[[], str | None]  # None: fine; else what is wrong


class Heartbeat:
    """Touched by a loop each time it turns; exported as casebus_heartbeat_timestamp_seconds."""

    def __init__(self, service: str) -> None:
        self._gauge = m.HEARTBEAT.labels(service)
        self.last = time.time()
        self._gauge.set(self.last)

    def touch(self) -> None:
        self.last = time.time()
        self._gauge.set(self.last)

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.last


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    failing: dict[str, str]  # check -> what is wrong

    def body(self) -> dict[str, object]:
        return {"status": "ok" if self.ok else "failing", "failing": self.failing}


def decide(answers: Mapping[str, str | None]) -> Verdict:
    """Ready when every check answered None; else the failing ones, named."""
    failing = {name: why for name, why in sorted(answers.items()) if why is not None}
    return Verdict(not failing, failing)


@dataclass
class Health:
    """What `/healthz` and `/readyz` answer for one service."""

    service: str
    heartbeat: Heartbeat | None = None
    live_after: float = 60.0
    # Cheap checks, run on each /readyz (they read state the service keeps).
    checks: dict[str, Check] = field(default_factory=dict)
    # Answers of the watcher's checks (the network), the last time it ran them.
    answers: dict[str, str | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def live(self, now: float | None = None) -> Verdict:
        if self.heartbeat is None:
            return Verdict(True, {})
        age = self.heartbeat.age(now)
        if age <= self.live_after:
            return Verdict(True, {})
        return Verdict(False, {"loop": f"the loop last turned {age:.0f}s ago"})

    def ready(self, now: float | None = None) -> Verdict:
        with self._lock:
            answers = dict(self.answers)
        for name, check in self.checks.items():
            answers[name] = _run(name, check)
        live = self.live(now)
        if not live.ok:
            answers.update({"stuck": live.failing["loop"]})
        return decide(answers)

    def record(self, name: str, answer: str | None) -> None:
        with self._lock:
            self.answers[name] = answer
        m.CHECK_OK.labels(self.service, name).set(0 if answer else 1)

    def expect(self, *names: str) -> None:
        """Checks the watcher will answer: failing until it first has."""
        for name in names:
            self.record(name, "not checked yet")


def _run(name: str, check: Check) -> str | None:
    try:
        return check()
    except Exception as exc:  # a check that breaks says so, it does not break /readyz
        return f"check {name} failed: {type(exc).__name__}: {exc}"


class Watcher(threading.Thread):
    """Runs the network checks every `interval` seconds, records their answers in `health`,
    and the `observers` (gauges read from the network: cluster health, topic depths)."""

    def __init__(
        self,
        health: Health,
        checks: Mapping[str, Check],
        *,
        interval: float,
        observers: tuple[Callable[[], None], ...] = (),
    ) -> None:
        super().__init__(name=f"{health.service}-watcher", daemon=True)
        self.health, self.checks, self.interval = health, dict(checks), interval
        self.observers = observers
        self.stopped = threading.Event()
        health.expect(*self.checks)

    def run(self) -> None:
        while not self.stopped.is_set():
            self.run_once()
            self.stopped.wait(self.interval)

    def run_once(self) -> None:
        for name, check in self.checks.items():
            self.health.record(name, _run(name, check))
        for observe in self.observers:
            try:
                observe()
            except Exception as exc:
                log.debug("%s: %s", getattr(observe, "__name__", observe), exc)

    def stop(self) -> None:
        self.stopped.set()
