"""Read a replay's scope and apply it, batch after batch, through sync's checkpoint.

Partitions are assigned (no consumer group, so no live sync is disturbed) and read from the
scope's start to its end; a decode worker (services/sync/prefetch.py) decodes batch N+1
while batch N is applied, as in sync. A transient fault waits and retries the batch in hand.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from kafka import KafkaConsumer

from services.replay.scope import Scope
from services.sync.checkpoint import Checkpoint
from services.sync.decode import BatchDecoder, Consumed, TransientFault
from services.sync.prefetch import Prefetcher, collect

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (offsets read so far, events applied so far)


def batches(consumer: KafkaConsumer, scope: Scope, size: int) -> Iterator[list[Any]]:
    """The scope's records, in batches of at most `size` (per partition in offset order)."""
    if scope.records or scope.cases is not None:  # a case: read already, by key
        flat = [r for tp in sorted(scope.records) for r in scope.records[tp]]
        for start in range(0, len(flat), size):
            yield flat[start : start + size]
        return
    todo = [tp for tp in sorted(scope.ends) if scope.ends[tp] > scope.starts[tp]]
    if not todo:
        return
    consumer.assign(todo)
    for tp in todo:
        consumer.seek(tp, scope.starts[tp])
    while todo:
        polled = consumer.poll(timeout_ms=500, max_records=size)
        records = [r for tp in sorted(polled) for r in polled[tp] if r.offset < scope.ends[tp]]
        done = [tp for tp in todo if consumer.position(tp) >= scope.ends[tp]]
        if done:
            consumer.pause(*done)
            todo = [tp for tp in todo if tp not in done]
        if records:
            yield records


def position(consumer: KafkaConsumer, scope: Scope) -> int:
    """Offsets read so far, over the scope's partitions."""
    read = 0
    assigned = consumer.assignment()
    for tp in scope.ends:
        if scope.records:
            continue
        at = consumer.position(tp) if tp in assigned else scope.starts[tp]
        read += min(at, scope.ends[tp]) - scope.starts[tp]
    return read


def apply_scope(
    consumer: KafkaConsumer,
    scope: Scope,
    *,
    checkpoint: Checkpoint,
    decoder: BatchDecoder,
    prefetch: Prefetcher | None,
    batch_size: int,
    progress: Progress,
    retry_seconds: float = 2.0,
) -> None:
    ahead: tuple[Sequence[Any], Any] | None = None
    source = batches(consumer, scope, batch_size)
    applied = 0
    while True:
        records = next(source, None)
        if prefetch is not None:  # hand this batch to the worker, apply the one before
            current, ahead = (
                ahead,
                ((records, prefetch.submit(records)) if records is not None else None),
            )
            if current is None:
                if ahead is None:
                    break
                continue
            consumed = collect(current[0], current[1], checkpoint.report)
        else:
            if records is None:
                break
            consumed = _decode(decoder, records, checkpoint)
        applied += len(consumed)
        _commit(checkpoint, consumed, retry_seconds)
        read = position(consumer, scope) if not scope.records else applied
        progress(read, applied)


def _decode(
    decoder: BatchDecoder, records: Sequence[Any], checkpoint: Checkpoint
) -> list[Consumed]:
    started = time.perf_counter()
    consumed = decoder.decode(records)
    checkpoint.report.stages["decode"] += time.perf_counter() - started
    return consumed


def _commit(checkpoint: Checkpoint, consumed: Sequence[Consumed], retry_seconds: float) -> None:
    while True:
        try:
            checkpoint.commit(consumed)
            return
        except TransientFault as exc:
            log.warning("transient fault, batch will be retried: %s", exc)
            checkpoint.report.retries += 1
            time.sleep(retry_seconds)
