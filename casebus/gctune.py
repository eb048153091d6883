"""Memory settings for batch loops that allocate a lot and keep little: the garbage collector,
and malloc's arenas.

A sync batch creates hundreds of thousands of small containers (decoded events, rows) that
reference counting frees when the batch is done; CPython's cyclic collector, with its default
thresholds, still walks them again and again while they live, and walks every module-level
object in each full collection too. Measured on a sync batch: a third of the time spent
decoding and unpickling events went to the collector. `batch_gc` freezes what exists at start
(imports, settings: never garbage) and collects the young generation every 200,000
allocations instead of 700. Cycles are still collected, just less often. The count is of
objects allocated and not yet freed, so at 200,000 most of a batch is freed before it ever
comes to a collection; at 20,000 (until 2026-12-06) each batch of 2,000 new penalties set
off several, each walking the batch's live objects and moving them to older generations
to be walked again: 0.9 s of collections in the sync's main process and about as much in
its worker over 200,000 events (bench/sync.py, timed with gc.callbacks). Alternating,
200,000 against 20,000: CPU main 57.2 and 59.6 + worker 81.6 and 84.8 µs an event against
60.0 and 63.8 + 84.0 and 89.3; peak PSS unchanged (228–229 MB; 242 MB at 2,000,000 events).

glibc's malloc gives each thread that allocates an arena of its own (up to eight per core),
and memory freed in one stays with it: the sync's Kafka client thread, its chain-head
publisher, its WAL checkpointer and its metrics server each hold some. `tune_malloc`
caps them at two, set before those threads start: 8–9 MB less PSS for the sync and its
worker at 200,000 events (bench/sync.py, `MALLOC_ARENA_MAX=2` against none, alternating),
no change in CPU.

It also fixes malloc's mmap threshold at 256 KiB. glibc starts it at 128 KiB and raises it to
the size of each mmapped block freed (up to 32 MB): after the first fetch response (4 MB)
or pickled batch is freed, every later one comes from the heap, where the next batch's
small objects settle around the holes and keep them mapped. Fixed, such blocks are mapped
and unmapped each time. Alternating at 200,000 events of the mixed stream (bench/sync.py,
PostgreSQL, `MALLOC_MMAP_THRESHOLD_=262144` against none): peak PSS 218 and 223 MB against
236 and 238; replay's fresh rebuild into SQLite 237 against 261 MB, live sync into SQLite
235 against 255. The pages of each new mapping are faulted in again: the main process's
CPU 62.3–64.0 against 60.5–62.2 µs an event.

Freed batches also leave holes in malloc's heaps that glibc keeps mapped; `MallocTrim`
hands them back every ten batches, in the sync's main process and its decode worker
(`CASEBUS_NO_MALLOC_TRIM=1` turns it off, for a comparison). At 2,000,000 events
(bench/sync.py, PostgreSQL, the mixed stream) the peak PSS was 249 MB with it, against 250 MB
without, the same day: a megabyte or two, no CPU.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager

THRESHOLDS = (200_000, 20, 20)
_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8  # mallopt's parameters (malloc.h)
MMAP_THRESHOLD = 256 * 1024


@contextmanager
def batch_gc() -> Iterator[None]:
    old = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def tune_process() -> None:
    """For a process that is all batch loop (a decode worker): the same, for good."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


def tune_malloc(arenas: int = 2, mmap_threshold: int = MMAP_THRESHOLD) -> bool:
    """Cap glibc's malloc arenas for threads started from now on, and fix its mmap threshold
    (False: not glibc). A forked worker inherits both."""
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    capped = libc.mallopt(_M_ARENA_MAX, arenas)
    return bool(capped and libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold))


class MallocTrim:
    """Hands malloc's free pages back to the system every `every` batches (`malloc_trim`):
    freed batches leave holes in the heap that glibc keeps mapped, and the peak creeps up
    with the topic's length."""

    def __init__(self, every: int = 10) -> None:
        self.every, self._count = every, 0
        self._trim = None
        if platform.libc_ver()[0] == "glibc" and not os.environ.get("CASEBUS_NO_MALLOC_TRIM"):
            self._trim = ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim

    def tick(self) -> None:
        self._count += 1
        if self._trim is not None and self._count % self.every == 0:
            self._trim(0)
