"""Where a stuck process is: every thread's traceback on its stderr (a log file, the journal).

- `arm(seconds)`: a loop re-arms it every turn; one that has not turned for that long is
  stuck in some call, and the dump says which (once: a loop that turns again re-arms it).
- `dump_on_signal()`: `kill -USR1 PID` dumps at once, without stopping anything (the
  Python counterpart of a JVM's thread dump), for an operator or a test that found a
  service not moving on.
"""

from __future__ import annotations

import faulthandler
import signal
import sys

# Longer than any wait of the batch loop's or the feeds' own (the decode worker's deadline,
# 120 s, raises on its own; a transaction call is given up at 30 s).
STALL_DUMP_SECONDS = 180.0


def arm(seconds: float | None = None) -> None:
    """(Re-)arm the dump: one timer per process (the last loop to turn arms it)."""
    stream = sys.__stderr__
    if stream is None:
        return
    try:
        faulthandler.dump_traceback_later(
            STALL_DUMP_SECONDS if seconds is None else seconds, file=stream
        )
    except (OSError, ValueError, RuntimeError):  # a stderr without a descriptor: no dump
        return


def disarm() -> None:
    faulthandler.cancel_dump_traceback_later()


def dump_on_signal() -> None:
    """Every thread's traceback on stderr whenever the process gets SIGUSR1."""
    stream = sys.__stderr__
    if stream is None or not hasattr(signal, "SIGUSR1"):
        return
    try:
        faulthandler.register(signal.SIGUSR1, file=stream, all_threads=True, chain=False)
    except (OSError, ValueError, RuntimeError):
        return
