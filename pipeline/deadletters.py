"""What each consumer's DLQ holds, counted by reason: the `casebus.error.class` header every
DLQ record carries (casebus/dlq.py), for each consumer named in `casebus.error.consumer`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from casebus.config import Settings
from casebus.dlq import ERROR_HEADER_PREFIX
from pipeline.scan import scan

CLASS, CONSUMER = ERROR_HEADER_PREFIX + "class", ERROR_HEADER_PREFIX + "consumer"


@dataclass
class DlqReasons:
    topic: str
    consumer: str  # as the DLQ records name it
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.reasons.values())


def dlq_topics(settings: Settings) -> list[str]:
    """Every DLQ of the deployment: each agency's sync's and the feeds'."""
    syncs = [settings.sync.dlq_for(s.agency) for s in settings.sync.subscriptions]
    return sorted({*syncs, settings.feeds.dlq_topic})


def dlq_reasons(settings: Settings, *, last: int = 100_000) -> list[DlqReasons]:
    """One entry per (DLQ topic, consumer) holding records, by reason."""
    found: dict[tuple[str, str], DlqReasons] = {}
    for record in scan(settings, dlq_topics(settings), client_id="casebus-dlq-reasons", last=last):
        headers = {k: v for k, v in record.headers or ()}
        consumer = (headers.get(CONSUMER) or b"?").decode(errors="replace")
        reason = (headers.get(CLASS) or b"(none)").decode(errors="replace")
        key = (record.topic, consumer)
        found.setdefault(key, DlqReasons(record.topic, consumer)).reasons[reason] += 1
    return [found[k] for k in sorted(found)]
