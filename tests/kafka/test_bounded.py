"""A client made under a deadline (casebus/kafka/bounded.py `bounded_make`) is discarded if
it comes after the caller gave up on it, and only then."""

from __future__ import annotations

import threading
import time

import pytest

from casebus.kafka.bounded import Stuck, bounded_make

pytestmark = pytest.mark.offline


def test_one_made_in_time_is_the_callers() -> None:
    discarded: list[object] = []
    thing = object()
    assert bounded_make(lambda: thing, 5, "make", discarded.append) is thing
    assert discarded == []


def test_one_made_too_late_is_discarded_once() -> None:
    discarded: list[object] = []
    done = threading.Event()
    thing = object()

    def slow() -> object:
        time.sleep(0.5)
        return thing

    def discard(made: object) -> None:
        discarded.append(made)
        done.set()

    with pytest.raises(Stuck, match="make: no answer"):
        bounded_make(slow, 0.1, "make", discard)
    assert done.wait(5)
    time.sleep(0.1)
    assert discarded == [thing]


def test_a_failure_is_the_callers_and_nothing_is_discarded() -> None:
    discarded: list[object] = []

    def broken() -> object:
        raise ConnectionError("refused")

    with pytest.raises(ConnectionError, match="refused"):
        bounded_make(broken, 5, "make", discarded.append)
    assert discarded == []
