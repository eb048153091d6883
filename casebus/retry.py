"""Back-pressure and retry, one way for every consumer and producer loop.

A dependency that cannot take the work now (the database, the registry, the broker, a DLQ
that does not acknowledge) raises `RetryAfter`: the caller keeps the work, waits and tries
the same work again; nothing goes to a DLQ for it. `Backoff` is the wait: doubling from
`first` up to `cap`, reset by the first success, interruptible by a stop event.
"""

from __future__ import annotations

import threading


class RetryAfter(Exception):
    """The work cannot be done now; do the same work again later.

    `retry_after`: seconds the raiser knows to wait (None: the caller's backoff decides)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Backoff:
    def __init__(self, cap: float, first: float = 0.25) -> None:
        self._first, self._cap, self._next = first, cap, first
        self.waits = 0  # how often it waited

    def wait(self, stop: threading.Event | None = None, at_least: float | None = None) -> None:
        """Wait the next delay (or `at_least`, if longer); returns early once `stop` is set."""
        delay = max(self._next, at_least or 0.0)
        if stop is None:
            threading.Event().wait(delay)
        else:
            stop.wait(delay)
        self._next = min(self._next * 2, self._cap)
        self.waits += 1

    def reset(self) -> None:
        self._next = self._first
