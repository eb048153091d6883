"""Which DLQ a command means: CONSUMER names it by its consumer (an agency code for that
agency's sync, `feeds`), by the consumer's group or by the DLQ topic itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from casebus.config import Settings


class UnknownConsumer(ValueError):
    """A CONSUMER that names no DLQ of this deployment; the message lists the known ones."""


@dataclass(frozen=True, slots=True)
class DlqTarget:
    consumer: str  # the agency code, or "feeds"
    kind: Literal["sync", "feeds"]
    topic: str  # the DLQ topic
    group: str  # the consumer's group

    @property
    def agency(self) -> str | None:
        return self.consumer if self.kind == "sync" else None

    def describe(self) -> str:
        whose = f"{self.consumer}'s sync" if self.kind == "sync" else "the feeds"
        return f"{self.topic} ({whose})"


def targets(settings: Settings) -> list[DlqTarget]:
    found = [
        DlqTarget(
            s.agency, "sync", settings.sync.dlq_for(s.agency), settings.sync.group_for(s.agency)
        )
        for s in settings.sync.subscriptions
    ]
    fs = settings.feeds
    return [*found, DlqTarget("feeds", "feeds", fs.dlq_topic, fs.group_id)]


def resolve(settings: Settings, name: str) -> DlqTarget:
    known = targets(settings)
    for target in known:
        if name in (target.consumer, target.group, target.topic):
            return target
    for target in known:  # a sync named by its principal (sync.510500-SAMR)
        if target.kind == "sync" and name == f"sync.{target.consumer}":
            return target
    listed = ", ".join(t.consumer for t in known)
    raise UnknownConsumer(
        f"no DLQ for consumer {name!r}: one of {listed} (or its group or DLQ topic)"
    )
