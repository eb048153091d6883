"""The source records the connectors refused (`casebus.rejects`), with every failed rule:
what an agency's staff correct in their own system before the connector publishes it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from casebus.config import Settings
from casebus.topics import REJECTS_TOPIC
from pipeline.scan import scan


@dataclass(frozen=True, slots=True)
class Violation:
    field: str
    rule: str
    message: str
    value: Any


@dataclass(frozen=True, slots=True)
class Reject:
    owner: str  # the agency whose connector refused it
    connector: str
    source_system: str
    source_record_id: str
    rejected_at: str  # ISO 8601, as the connector wrote it
    violations: tuple[Violation, ...]
    record: Any  # the source record as fetched
    times: int  # how often it was refused (a source record is refused again until fixed)


def rejects_of(settings: Settings, owners: set[str], *, last: int = 10_000) -> list[Reject]:
    """The latest refusal of each source record of the owners' connectors, newest first."""
    connectors = {c.name: c.owner for c in settings.connectors if c.owner in owners}
    topics = {c.topics.get(REJECTS_TOPIC, REJECTS_TOPIC) for c in settings.connectors}
    latest: dict[tuple[str, str], Reject] = {}
    for record in scan(settings, topics, client_id="casebus-rejects", last=last):
        try:
            body = json.loads(record.value)
            owner = connectors.get(body["connector"])
            if owner is None:
                continue
            key = (body["connector"], str(body["source_record_id"]))
            seen = latest.get(key)
            latest[key] = Reject(
                owner,
                body["connector"],
                str(body.get("source_system", "")),
                key[1],
                str(body.get("rejected_at", "")),
                tuple(
                    Violation(v["field"], v["rule"], v.get("message", ""), v.get("value"))
                    for v in body.get("violations", ())
                ),
                body.get("record"),
                (seen.times if seen else 0) + 1,
            )
        except (ValueError, KeyError, TypeError):
            continue  # not a reject this code wrote: nothing to show of it
    return sorted(latest.values(), key=lambda r: r.rejected_at, reverse=True)
