"""A batch loop stuck in some call says where: every thread's traceback on stderr (offline)."""

from __future__ import annotations

import faulthandler
import time

import pytest

from pipeline import loop

pytestmark = pytest.mark.offline


def test_a_loop_that_stops_turning_dumps_every_threads_traceback(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop, "STALL_DUMP_SECONDS", 0.3)
    try:
        loop._arm_stall_dump()
        time.sleep(0.1)
        loop._arm_stall_dump()  # turned again: the timer starts over
        time.sleep(0.25)
        assert "Timeout" not in capfd.readouterr().err
        time.sleep(0.4)  # not turned for longer than the limit
        err = capfd.readouterr().err
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert "Thread" in err and "test_a_loop_that_stops_turning" in err, err[-500:]
