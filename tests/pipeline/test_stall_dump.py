"""A loop stuck in some call says where: every thread's traceback on stderr (offline)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from casebus import stall

pytestmark = pytest.mark.offline


def test_a_loop_that_stops_turning_dumps_every_threads_traceback(
    capfd: pytest.CaptureFixture[str],
) -> None:
    try:
        stall.arm(0.3)
        time.sleep(0.1)
        stall.arm(0.3)  # turned again: the timer starts over
        time.sleep(0.25)
        assert "Timeout" not in capfd.readouterr().err
        time.sleep(0.4)  # not turned for longer than the limit
        err = capfd.readouterr().err
    finally:
        stall.disarm()
    assert "Thread" in err and "test_a_loop_that_stops_turning" in err, err[-500:]


def test_sigusr1_dumps_every_thread_and_the_process_goes_on() -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from casebus import stall\n"
            "stall.dump_on_signal()\n"
            "print('ready', flush=True)\n"
            "def waiting_here():\n"
            "    time.sleep(1.5)\n"
            "waiting_here()\n"
            "print('went on', flush=True)\n",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    os.kill(child.pid, signal.SIGUSR1)
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0 and "went on" in out, err
    assert "most recent call first" in err and "waiting_here" in err, err
