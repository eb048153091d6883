"""A deadline for kafka-python calls that wait without one.

The transactional producer's `init_transactions` is bounded by `max_block_ms`, but
`send_offsets_to_transaction`, `commit_transaction` and `abort_transaction` wait for their
result with no timeout; measured on a three-node cluster under node kills, a transactional
request can be lost and the call then never returns (and a stop signal is never looked at).
Such calls run here on a helper thread; past the deadline the caller gets `Stuck` and must
give the producer up (a new one with the same transactional id fences it and resolves its
open transaction). The helper thread stays blocked until the producer is closed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from kafka.errors import ProducerFencedError

from casebus.retry import RetryAfter

T = TypeVar("T")


class Stuck(RetryAfter):
    """A call did not return within its deadline: the producer must be replaced."""


def bounded(fn: Callable[[], T], timeout: float, what: str) -> T:
    """`fn()`'s result, or what it raised; `Stuck` if it has not returned in `timeout` s."""
    result: list[T] = []
    failure: list[BaseException] = []

    def call() -> None:
        try:
            result.append(fn())
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=call, name=f"kafka-{what}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise Stuck(f"{what}: no answer from Kafka within {timeout:g}s")
    if failure:
        raise failure[0]
    return result[0]


def bounded_make(
    make: Callable[[], T], timeout: float, what: str, discard: Callable[[T], None]
) -> T:
    """`bounded(make, ...)` for a call that makes something that must be closed (a client):
    if the caller gives up on it (`Stuck`) and it is made after all, it is `discard`ed, not
    left running with nobody holding it. Exactly one of the two sides discards it."""
    lock = threading.Lock()
    made: list[T] = []
    given_up = False

    def call() -> T:
        thing = make()
        with lock:
            if not given_up:
                made.append(thing)
                return thing
        discard(thing)
        return thing

    try:
        return bounded(call, timeout, what)
    except Stuck:
        with lock:
            given_up = True
            late = made.pop() if made else None
        if late is not None:  # made between the deadline and the line above
            discard(late)
        raise


def fenced(producer: object) -> bool:
    """Whether a transactional producer was fenced by a newer one with its id.

    kafka-python raises a fence as `ProducerFencedError` only from the call that met it;
    every later call fails with a plain `KafkaError` naming the state, so the state is read
    from the producer's transaction manager (a private attribute of the producer)."""
    manager = getattr(producer, "_transaction_manager", None)
    last = getattr(manager, "last_error", None)
    return isinstance(last, ProducerFencedError)
