"""A decode worker that stops answering is given up on, not waited for forever (offline:
a real forked worker, no broker)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from casebus.workers import ForkedPool
from pipeline.decode_worker import Pending, WorkerStalled, collect
from pipeline.report import SyncReport

pytestmark = pytest.mark.offline


def _nothing() -> None:
    pass


def _dead(pid: int, within: float) -> bool:
    """The process is gone or a zombie within `within` seconds. Asked of the kernel, not of
    `Process.is_alive()`: the pool's own thread may reap the worker at the same moment, and
    the loser of that race sees it as alive."""
    stat = Path(f"/proc/{pid}/stat")
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_a_stalled_worker_raises_after_the_deadline_and_is_killed() -> None:
    before = set(multiprocessing.active_children())
    pool = ForkedPool(1, _nothing)
    (worker,) = set(multiprocessing.active_children()) - before
    future = pool.submit(time.sleep, 3600)
    time.sleep(0.2)
    assert worker.pid is not None
    os.kill(worker.pid, signal.SIGSTOP)  # a worker that will never answer, as if hung
    began = time.monotonic()
    with pytest.raises(WorkerStalled, match="no answer from the decode worker in 1s"):
        collect([], Pending(future, 0.0), SyncReport("510500-SAMR"), deadline=1.0)
    assert 0.9 < time.monotonic() - began < 5
    began = time.monotonic()
    pool.terminate()  # close() would wait for the running task forever
    assert time.monotonic() - began < 6
    assert _dead(worker.pid, within=5)
