"""The sync's metrics and readiness, fed by the batch loop at no per-event cost.

- `MeteredSource` wraps the group source: each poll touches the heartbeat (the loop turns),
  remembers the timestamp of the last record read per partition, and sets the lag gauges of
  the partitions this member holds (high watermark and position, both known locally: no
  request) at most once a second, or at once when records arrive after none waited; a poll
  the broker refuses marks Kafka as failing. Transient faults waited out are counted at the
  next committed batch.
- `SyncObserver.committed` runs after each committed batch (BatchLoop's `on_commit`): it
  adds what the report gained since the last batch (outcomes per topic, DLQ reasons,
  signature refusals, stage seconds, the decode worker's counts) to the counters, and times
  the batch's transaction from the report's apply-stage seconds.
- Readiness (`checks`): lag within `ready_max_lag`; not stuck (unread records and nothing
  committed for `stuck_after` seconds); the subscribed topics readable (`missing`).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

from casebus.ids import ConsumedRecord
from casebus.observability import metrics as m
from casebus.observability.consumer import ConsumerLag
from casebus.observability.health import Check
from casebus.retry import RetryAfter
from pipeline.report import Stage, SyncReport
from pipeline.sources import GroupSource


class SyncObserver:
    def __init__(
        self,
        agency: str,
        group: str,
        report: SyncReport,
        touch: Callable[[], None],  # the heartbeat: the loop turned
        *,
        ready_max_lag: int,
        stuck_after: float,
    ) -> None:
        self.agency, self.group, self.report, self.touch = agency, group, report, touch
        self.ready_max_lag, self.stuck_after = ready_max_lag, stuck_after
        self.lag = ConsumerLag(group)
        self.kafka_error: str | None = None
        self.missing: tuple[str, ...] = ()
        self.progressed = time.monotonic()  # last commit, or start
        self._seen = _Snapshot()

    # -- after each batch ---------------------------------------------------------------------

    def committed(self, events: int) -> None:
        self.progressed = time.monotonic()
        report, seen, agency = self.report, self._seen, self.agency
        for (topic, outcome), n in _gained(report.by_topic, seen.by_topic):
            m.SYNC_EVENTS.labels(agency, topic, outcome).inc(n)
        for (topic, reason), n in _gained(report.dead_by, seen.dead_by):
            m.SYNC_DEAD_LETTERED.labels(agency, topic, reason).inc(n)
        for reason, n in _gained(report.refusals, seen.refusals):
            m.SIGNATURE_REFUSALS.labels(f"sync.{agency}", reason).inc(n)
        for kind, n in _gained(report.worker_items, seen.worker_items):
            m.SYNC_WORKER_ITEMS.labels(agency, kind).inc(n)
        for stage, seconds in list(report.stages.items()):
            before = seen.stages.get(stage, 0.0)
            if seconds > before:
                m.SYNC_STAGE_SECONDS.labels(agency, stage.value).inc(seconds - before)
                if stage is Stage.APPLY:
                    m.SYNC_COMMIT_SECONDS.labels(agency).observe(seconds - before)
            seen.stages[stage] = seconds
        if report.retries > seen.retries:
            m.SYNC_RETRIES.labels(agency).inc(report.retries - seen.retries)
            seen.retries = report.retries
        if report.last_applied_ms is not None and report.last_applied_ms != seen.last_applied_ms:
            now = time.time()
            m.SYNC_LAST_APPLIED.labels(agency).set(now)
            m.SYNC_LAST_APPLIED_AGE.labels(agency).set(max(0.0, now - report.last_applied_ms / 1e3))
            seen.last_applied_ms = report.last_applied_ms

    # -- lag --------------------------------------------------------------------------------------

    def total_lag(self) -> int:
        return self.lag.total()

    def set_missing(self, topics: Sequence[str]) -> None:
        for topic in set(self.missing) - set(topics):
            m.SYNC_MISSING_TOPICS.labels(self.agency, topic).set(0)
        self.missing = tuple(topics)
        for topic in topics:
            m.SYNC_MISSING_TOPICS.labels(self.agency, topic).set(1)

    # -- readiness ----------------------------------------------------------------------------

    def checks(self) -> dict[str, Check]:
        """The cheap checks, run on each /readyz (the watcher checks the topics)."""
        return {"consumer": self._consumer, "lag": self._lag}

    def _consumer(self) -> str | None:
        return self.kafka_error

    def _lag(self) -> str | None:
        return lag_verdict(
            self.total_lag(),
            ready_max_lag=self.ready_max_lag,
            idle_for=time.monotonic() - self.progressed,
            stuck_after=self.stuck_after,
        )

    def topics_check(self, unreadable: Callable[[], Sequence[str]]) -> Check:
        """For the watcher: the subscribed topics, readable (gauge and answer updated)."""

        def check() -> str | None:
            self.set_missing(unreadable())
            return missing_verdict(self.missing, self.agency)

        return check


def lag_verdict(lag: int, *, ready_max_lag: int, idle_for: float, stuck_after: float) -> str | None:
    """Why a sync with `lag` unread records, `idle_for` seconds after its last commit, is
    not ready (None: it is)."""
    if lag > 0 and idle_for > stuck_after:
        return f"stuck: {lag} records unread and nothing committed for {idle_for:.0f}s"
    if lag > ready_max_lag:
        return f"lagging: {lag} records unread (sync.ready_max_lag is {ready_max_lag})"
    return None


def missing_verdict(missing: Sequence[str], agency: str) -> str | None:
    if not missing:
        return None
    return f"subscribed topics missing or not readable by sync.{agency}: {', '.join(missing)}"


class MeteredSource:
    """The group source, with the heartbeat, the last record timestamps and the lag."""

    def __init__(self, source: GroupSource, observer: SyncObserver) -> None:
        self.inner, self.observer = source, observer

    @property
    def backlog(self) -> bool:
        return self.inner.backlog

    def poll(self, stop: threading.Event) -> list[ConsumedRecord]:
        self.observer.touch()
        try:
            records = self.inner.poll(stop)
        except RetryAfter as exc:
            self.observer.kafka_error = str(exc)
            raise
        self.observer.kafka_error = None
        lag = self.observer.lag
        if records:
            lag.remember(records)
        # At most once a second; and at once when records arrive where none were waiting,
        # so that a batch that then takes long to commit is seen as lag meanwhile.
        if lag.due() or (records and lag.total() == 0):
            lag.measure(self.inner.consumer, self.inner.resume.pending)
        return records

    def rewind(self, records: Sequence[ConsumedRecord]) -> None:
        self.inner.rewind(records)

    def caught_up(self) -> bool:
        return self.inner.caught_up()


class _Snapshot:
    """What the counters were given so far (the report's totals at the last batch)."""

    def __init__(self) -> None:
        self.by_topic: Counter[tuple[str, str]] = Counter()
        self.dead_by: Counter[tuple[str, str]] = Counter()
        self.refusals: Counter[str] = Counter()
        self.worker_items: Counter[str] = Counter()
        self.stages: dict[Stage, float] = {}
        self.retries = 0
        self.last_applied_ms: int | None = None


K = TypeVar("K", bound=Hashable)


def _gained(now: Counter[K], seen: Counter[K]) -> list[tuple[K, int]]:
    """What `now` holds beyond `seen`, and `seen` brought up to `now`."""
    out = []
    for key, n in now.items():
        before = seen[key]
        if n > before:
            out.append((key, n - before))
            seen[key] = n
    return out
