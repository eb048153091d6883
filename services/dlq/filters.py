"""Which DLQ records a command takes (--reason, --since), and how fast a redrive sends them
(--rate): pure functions, no broker."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pipeline.deadletters import DlqEntry

BEIJING = ZoneInfo("Asia/Shanghai")
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime) -> datetime:
    """`2h`, `30m`, `1d`, `90s`, `1w` before `now`, or an ISO 8601 time (without an offset:
    Beijing time, as `casebus replay --from`). Raises ValueError naming the forms."""
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = float(relative.group(1)), relative.group(2)
        return now - timedelta(**{_UNITS[unit]: amount})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r}: neither a duration (30m, 2h, 1d) nor an ISO 8601 time"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=BEIJING)


@dataclass(frozen=True, slots=True)
class Filter:
    reason: str | None = None  # the refusal reason (casebus.error.class), exactly
    since: datetime | None = None  # dead-lettered at or after

    def __call__(self, entry: DlqEntry) -> bool:
        if self.reason is not None and entry.error_class != self.reason:
            return False
        return self.since is None or entry.timestamp >= self.since

    def describe(self) -> str:
        parts = []
        if self.reason is not None:
            parts.append(f"reason {self.reason}")
        if self.since is not None:
            parts.append(f"since {self.since.isoformat(timespec='seconds')}")
        return ", ".join(parts) or "all"


class Pace:
    """At most `rate` events a second, on average: `take(n)` waits until n more may go.
    The first batch goes at once; each batch of n then holds the next back n/rate seconds."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate {rate}: must be more than 0 events a second")
        self.rate, self._clock = rate, clock
        self._sleep = sleep
        self._next = 0.0  # when the next batch may go (clock time)
        self.waited = 0.0

    def take(self, n: int, stop: threading.Event | None = None) -> None:
        now = self._clock()
        wait = self._next - now
        if wait > 0:
            self.waited += wait
            if self._sleep is not None:
                self._sleep(wait)
            elif stop is not None:
                stop.wait(wait)
            else:
                time.sleep(wait)
            now = self._next
        self._next = max(now, self._next) + n / self.rate
