"""Read the last records of whole topics, for the admins' and the console's views (rejects,
DLQ reasons): assigned partitions, no group, from `last` records before each partition's end
offset (taken when the scan starts) to that end."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from kafka import TopicPartition

from casebus.config import Settings
from casebus.kafka.clients import make_consumer
from casebus.security.principals import REPLAY

POLL_MS = 500


def scan(
    settings: Settings,
    topics: Iterable[str],
    *,
    client_id: str,
    last: int = 10_000,
    principal: str = REPLAY,  # the DLQs: the admin's (only it may read them)
) -> Iterator[Any]:
    """Each record (kafka-python's ConsumerRecord) of the topics' last `last` per partition;
    a topic that does not exist yields nothing."""
    consumer = make_consumer(settings, None, client_id, principal=principal)
    try:
        consumer.topics()  # metadata, so that partitions_for_topic knows every topic
        parts = [
            TopicPartition(t, p)
            for t in sorted(set(topics))
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        if not parts:
            return
        ends, starts = consumer.end_offsets(parts), consumer.beginning_offsets(parts)
        wanted = [tp for tp in parts if ends[tp] > starts[tp]]
        if not wanted:
            return
        consumer.assign(wanted)
        for tp in wanted:
            consumer.seek(tp, max(starts[tp], ends[tp] - last))
        open_parts = set(wanted)
        while open_parts:
            batch = consumer.poll(timeout_ms=POLL_MS)
            for tp, records in batch.items():
                for record in records:
                    if record.offset < ends[tp]:
                        yield record
            # read_committed: transaction markers take offsets, so compare positions.
            open_parts = {tp for tp in open_parts if consumer.position(tp) < ends[tp]}
    finally:
        consumer.close()
