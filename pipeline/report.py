"""What a run of the pipeline (sync, replay, redrive) did: events per outcome, and where the
time went per stage."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from casebus.revisions import Outcome, Result


class Stage(StrEnum):
    """A stage of an event's way through the pipeline, as the report times it."""

    POLL = "poll"
    VERIFY = "verify"  # the signature check, in the process that polled
    DECODE = "decode"
    PREPARE = "prepare"
    VALIDATE = "validate"
    WAIT = "wait for worker"  # the main process waiting on the decode worker
    APPLY = "apply and write"


@dataclass
class SyncReport:
    agency: str
    counts: Counter[str] = field(default_factory=Counter)  # outcome value -> events
    dead_lettered: int = 0
    batches: int = 0
    retries: int = 0  # transient faults waited out (database, registry, broker)
    seconds: float = 0.0
    skipped: int = 0  # already applied by another process of the group (a rebalance overlap)
    rejoins: int = 0  # times the stuck watch rejoined the group
    clients_replaced: int = 0  # Kafka clients replaced by the stuck watch for fetching nothing
    covered: str = ""  # with --until-idle: the partitions found read to their end
    missing: tuple[str, ...] = ()  # subscribed topics missing or not readable (--until-idle)
    # Per batch committed (pipeline/checkpoint.py), for the metrics (pipeline/observe.py):
    by_topic: Counter[tuple[str, str]] = field(default_factory=Counter)  # (topic, outcome)
    dead_by: Counter[tuple[str, str]] = field(default_factory=Counter)  # (topic, error class)
    refusals: Counter[str] = field(default_factory=Counter)  # signature refusal -> events
    last_applied_ms: int | None = None  # Kafka timestamp of the last event applied
    # What the decode worker made of the records (pipeline/decode_worker.py): kind -> items.
    worker_items: Counter[str] = field(default_factory=Counter)
    # Seconds per stage: CPU work, wherever it ran (main or worker).
    stages: defaultdict[Stage, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, results: Iterable[Result]) -> None:
        self.counts.update(r.outcome.value for r in results)
        self.batches += 1

    @property
    def events(self) -> int:
        return sum(self.counts.values())

    def count(self, outcome: Outcome) -> int:
        return self.counts.get(outcome.value, 0)

    def summary(self) -> str:
        parts = ", ".join(f"{o.value} {self.count(o)}" for o in Outcome)
        rate = self.events / self.seconds if self.seconds > 0 else 0.0
        text = (
            f"{self.agency}: {self.events} events in {self.seconds:.1f}s ({rate:,.0f}/s): {parts}; "
            f"DLQ {self.dead_lettered}, retries {self.retries}"
        )
        if self.clients_replaced:
            text += f", stalled Kafka clients replaced {self.clients_replaced}"
        if self.covered:
            text += f"; caught up on {self.covered}"
        if self.missing:
            text += f"; NOT READ: {', '.join(self.missing)}"
        return text
