"""Forked worker processes for CPU work beside a main loop: one set of rules for all of them.

Used by the connectors' page workers (map, validate, encode, sign) and the sync's decode
worker (verify, decode, prepare, validate). The rules, and why:

- Forked, not spawned: a worker starts in milliseconds with the code already imported, and
  shares those pages with its parent (a spawned sync worker took 140 MB of its own).
- Forked at construction, before any client thread exists (the Kafka clients' network
  threads, a scheduler, a WAL checkpointer): a lock some other thread held at the fork
  stays held forever in the child. Build the pool first, the clients after.
- The heap is frozen across the fork, so the children's garbage collections never walk
  (and so never copy) the parent's objects; each child then tunes its collector for a
  batch loop (casebus.gctune).
- Stopping is the parent's decision: workers ignore SIGINT and SIGTERM (sent to the whole
  process group by a terminal or a service manager), the parent finishes its batch and
  closes the pool. A parent killed outright (SIGKILL) closes nothing, so each worker
  watches its parent and exits when it is gone.
- Descriptors the parent holds for itself (a single-writer lock) are closed in the child.
- What a task raises is raised by its future in the parent; a worker that died makes the
  pool raise BrokenProcessPool, which the caller handles (the sync carries on inline).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, ParamSpec, TypeVar

from casebus.gctune import tune_process

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


class ForkedPool:
    """`workers` processes forked now; each runs `initializer(*initargs)` once, then tasks."""

    def __init__(
        self,
        workers: int,
        initializer: Callable[..., None],
        initargs: tuple[Any, ...] = (),
        *,
        close_fds: Sequence[int] = (),
    ) -> None:
        alive = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
        if alive:
            # The services fork first; the demo and the tests, one process playing several
            # parts, cannot. Harmless as long as the child never takes a lock those threads
            # use: it touches none of the parent's clients, and logging's locks are reset
            # at the fork by Python itself.
            log.debug("forking workers beside running threads %s", alive)
        self._pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_start,
            initargs=(os.getpid(), tuple(close_fds), initializer, initargs),
        )
        gc.collect()
        gc.freeze()
        try:
            # A forking pool forks all its workers at the first submit: make that now.
            self._pool.submit(int).result()
        finally:
            gc.unfreeze()

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        return self._pool.submit(fn, *args, **kwargs)

    def close(self) -> None:
        """Drop tasks not started, wait for those running, stop the workers."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def terminate(self) -> None:
        """Kill the workers without waiting for their tasks (a worker that stopped
        answering: `close` would wait for it forever)."""
        processes = list((self._pool._processes or {}).values())  # no public way to them
        for process in processes:
            process.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.join(timeout=5)


def _start(
    parent: int,
    inherited: Sequence[int],
    initializer: Callable[..., None],
    initargs: tuple[Any, ...],
) -> None:
    for fd in inherited:
        os.close(fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    initializer(*initargs)
    tune_process()


def _exit_with(parent: int) -> None:
    """Leave with the parent instead of lingering (the pool's queue, which the worker holds
    both ends of, never reports its death). `parent` is the pid the parent gave: it may be
    gone before this worker has even started."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)
