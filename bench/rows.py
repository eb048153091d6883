"""When each record reaches an agency's database, for the latency benchmarks (bench/link.py,
bench/latency.py): a thread polling the SQLite event log for newly applied events. No side
effects on import."""

from __future__ import annotations

import sqlite3
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path


class RowWatch(threading.Thread):
    """When each record id is first applied in the database (polled every 20 ms, read-only:
    the sync writes in WAL mode, so reading never blocks it)."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path, self.seen, self.stop = path, dict[str, float](), threading.Event()

    def run(self) -> None:
        last = 0
        while not self.stop.is_set():
            try:
                with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True) as db:
                    rows = db.execute(
                        "SELECT id, record_id, outcome FROM event_log WHERE id > ? ORDER BY id",
                        (last,),
                    ).fetchall()
            except sqlite3.Error:
                rows = []
            now = time.time()
            for row_id, record_id, outcome in rows:
                last = max(last, row_id)
                if outcome == "applied":
                    self.seen.setdefault(record_id, now)
            time.sleep(0.02)

    def wait_for(self, sent: dict[str, float], timeout: float = 120) -> list[float]:
        """Seconds from each send (record id -> when) to its row; RuntimeError if some
        never arrive (refused, say)."""
        deadline = time.monotonic() + timeout
        while any(r not in self.seen for r in sent) and time.monotonic() < deadline:
            time.sleep(0.2)
        missing = [r for r in sent if r not in self.seen]
        if missing:
            raise RuntimeError(f"{len(missing)} rows never applied, e.g. {missing[:3]}")
        return [self.seen[r] - t for r, t in sent.items()]


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def describe(values: list[float]) -> str:
    """p50, p99 and max in milliseconds."""
    p50, p99 = statistics.median(values) * 1000, percentile(values, 99) * 1000
    return f"p50 {p50:,.0f} ms, p99 {p99:,.0f} ms, max {max(values) * 1000:,.0f} ms"


def steadily(send: Callable[[int], str], rate: float, seconds: float) -> dict[str, float]:
    """Call `send(n)` (which publishes event n and returns its record id) `rate` times a
    second for `seconds`; record id -> when its send began (wall clock, as the rows')."""
    sent: dict[str, float] = {}
    began = time.monotonic()
    n = 0
    while time.monotonic() - began < seconds:
        at = time.time()
        sent[send(n)] = at
        n += 1
        time.sleep(max(0.0, began + n / rate - time.monotonic()))
    return sent
