"""One call per service: its health, the watcher running its network checks, and the
server on its metrics port (nothing at all when the port is 0)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import Engine

from casebus.config import Settings
from casebus.observability.health import Check, Health, Heartbeat, Watcher
from casebus.observability.probes import KafkaProbe, database_check, registry_check
from casebus.observability.server import ObservabilityServer


class Observability:
    """`service` names it in the metrics and the answers ("sync", "feeds", ...)."""

    def __init__(
        self,
        settings: Settings,
        service: str,
        port: int,
        *,
        principal: str,  # whom the Kafka probe connects as
        loop: bool = True,  # a loop of its own that touches the heartbeat
        registry: bool = True,  # ready only while the registry answers
        database: Callable[[], Engine | None] | None = None,  # ready only while it answers
        depth_of: Sequence[str] = (),  # topics whose depth is exported (DLQ, rejects)
        extra: Mapping[str, Check] | None = None,  # more network checks, for the watcher
    ) -> None:
        self.heartbeat = Heartbeat(service) if loop else None
        self.health = Health(
            service, self.heartbeat, live_after=settings.metrics.live_after_seconds
        )
        self.port = port
        self.server: ObservabilityServer | None = None
        self.watcher: Watcher | None = None
        self._probe: KafkaProbe | None = None
        if not port:
            return
        self._probe = KafkaProbe(settings, principal, depth_of)
        checks: dict[str, Check] = {"kafka": self._probe.check}
        if registry:
            checks["registry"] = registry_check(settings.registry.url)
        if database is not None:
            checks["database"] = database_check(database)
        checks.update(extra or {})
        self.watcher = Watcher(
            self.health, checks, interval=settings.metrics.check_interval_seconds
        )
        self.server = ObservabilityServer(self.health, settings.metrics.host, port)

    def watch(self, name: str, check: Check) -> None:
        """One more network check for the watcher (before `start`)."""
        if self.watcher is not None:
            self.watcher.checks[name] = check
            self.health.expect(name)

    @property
    def probe(self) -> KafkaProbe | None:
        return self._probe

    def start(self) -> Observability:
        if self.watcher is not None:
            self.watcher.start()
        if self.server is not None:
            self.server.start()
        return self

    def touch(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.touch()

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            if self.watcher.is_alive():
                self.watcher.join(timeout=10)
        if self.server is not None:
            self.server.close()
        if self._probe is not None:
            self._probe.close()
