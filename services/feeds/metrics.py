"""The feeds' metrics and readiness: once per transaction, what the report gained since the
last one (outcomes, records forwarded and retracted per platform, DLQ reasons, signature
refusals, transactions committed and aborted), the transaction's duration, and the lag
of the partitions of casebus.lead this instance holds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from kafka import KafkaConsumer

from casebus.observability import metrics as m
from casebus.observability.consumer import ConsumerLag
from casebus.provenance.signing import REFUSAL_REASONS

if TYPE_CHECKING:
    from services.feeds.service import FeedReport


class FeedObserver:
    def __init__(self, report: FeedReport, group: str, touch: Callable[[], None]) -> None:
        self.report, self.touch = report, touch
        self.lag = ConsumerLag(group)
        self._counts: Counter[str] = Counter()
        self._forwarded: Counter[str] = Counter()
        self._retracted: Counter[str] = Counter()
        self._dead: Counter[str] = Counter()
        self._transactions = self._aborted = self._replaced = 0

    def turned(self, consumer: KafkaConsumer) -> None:
        """Each turn of the loop, before its poll."""
        self.touch()
        if self.lag.due():
            self.lag.measure(consumer)

    def processed(self, records: Sequence[Any], seconds: float) -> None:
        """After a batch's transaction committed or was aborted."""
        report = self.report
        self.lag.remember(records)
        m.FEED_TRANSACTION_SECONDS.observe(seconds)
        for outcome, n in _gained(Counter(report.counts), self._counts):
            m.FEED_EVENTS.labels(outcome).inc(n)
        for code, n in _gained(report.forwarded_to, self._forwarded):
            m.FEED_FORWARDED.labels(code).inc(n)
        for code, n in _gained(report.retracted_from, self._retracted):
            m.FEED_RETRACTED.labels(code).inc(n)
        for reason, n in _gained(report.dead_by, self._dead):
            m.FEED_DEAD_LETTERED.labels(reason).inc(n)
            if reason in REFUSAL_REASONS:
                m.SIGNATURE_REFUSALS.labels("feeds", reason).inc(n)
        m.FEED_TRANSACTIONS.inc(report.transactions - self._transactions)
        m.FEED_ABORTED.inc(report.aborted - self._aborted)
        m.FEED_PRODUCERS_REPLACED.inc(report.producers_replaced - self._replaced)
        self._transactions, self._aborted = report.transactions, report.aborted
        self._replaced = report.producers_replaced


def _gained(now: Counter[str], seen: Counter[str]) -> list[tuple[str, int]]:
    """What `now` holds beyond `seen`, and `seen` brought up to `now`."""
    out = []
    for key, n in now.items():
        if n > seen[key]:
            out.append((key, n - seen[key]))
            seen[key] = n
    return out
