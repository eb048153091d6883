"""Sign-in throttling: failures counted per user name and per client address in a sliding
window; past the limit of either, every attempt is refused, right password or not, until
the oldest failure leaves the window.

Kept in the console process's memory: one console process serves a deployment, and a
restart forgets the count (as it would forget a lock-out a user can wait out anyway).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MAX_KEYS = 10_000


class Throttle:
    def __init__(
        self,
        *,
        per_user: int,
        per_address: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {"user": per_user, "address": per_address}
        self._window = window_seconds
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] >= self._window:
            times.popleft()
        return times

    def wait_seconds(self, user: str, address: str) -> float:
        """0 when an attempt may be made now; else how long until one may."""
        now = self._clock()
        longest = 0.0
        with self._lock:
            for key in (("user", user), ("address", address)):
                times = self._recent(key, now)
                if not times:
                    del self._failures[key]
                    continue
                if len(times) >= self._limits[key[0]]:
                    longest = max(longest, self._window - (now - times[0]))
        return longest

    def failed(self, user: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            if len(self._failures) > MAX_KEYS:  # names typed at random: forget the old ones
                for key in [
                    k for k, t in self._failures.items() if not t or now - t[-1] >= self._window
                ]:
                    del self._failures[key]
            for key in (("user", user), ("address", address)):
                self._recent(key, now).append(now)

    def succeeded(self, user: str) -> None:
        """A right password resets the user's count (not the address's)."""
        with self._lock:
            self._failures.pop(("user", user), None)
