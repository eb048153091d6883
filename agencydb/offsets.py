"""Consumer offsets kept in the agency database, next to the rows they produced."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from sqlalchemy import Connection, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert

from agencydb.models import ConsumerOffset, table_of
from agencydb.writes import upsert

Partition = tuple[str, int]  # (topic, partition)

_UNSTORED = -1  # placeholder of a row claimed before any offset was stored; never committed


def load_offsets(
    conn: Connection, group: str, partitions: Iterable[Partition]
) -> dict[Partition, int]:
    """Next offset to read for each partition this group has stored one for."""
    wanted = set(partitions)
    query = select(
        ConsumerOffset.topic, ConsumerOffset.partition, ConsumerOffset.next_offset
    ).where(
        ConsumerOffset.consumer_group == group,
        ConsumerOffset.topic.in_(sorted({topic for topic, _ in wanted})),
    )
    return {(t, p): o for t, p, o in conn.execute(query) if (t, p) in wanted and o >= 0}


def claim_offsets(
    conn: Connection, group: str, partitions: Iterable[Partition]
) -> dict[Partition, int]:
    """Lock these partitions' offset rows until the transaction ends; their stored offsets.

    During a rebalance two members of one group (two sync processes of one agency) can
    both hold a partition for a moment: the old owner finishing its batch, the new one
    starting from the stored offset. The row lock orders their transactions, and the
    caller applies only what lies at or past the stored offset it reads here, so every
    offset is applied once. On PostgreSQL a missing row is first inserted as a placeholder
    (the caller's save_offsets overwrites it in the same transaction), so that there is a
    row to lock; SQLite has one writer at a time and needs no lock.
    """
    wanted = sorted(set(partitions))
    if not wanted or conn.dialect.name != "postgresql":
        return load_offsets(conn, group, wanted)
    now = datetime.now(UTC)
    placeholders = [
        {
            "consumer_group": group,
            "topic": t,
            "partition": p,
            "next_offset": _UNSTORED,
            "updated_at": now,
        }
        for t, p in wanted
    ]
    conn.execute(pg_insert(ConsumerOffset).on_conflict_do_nothing(), placeholders)
    query = (
        select(ConsumerOffset.topic, ConsumerOffset.partition, ConsumerOffset.next_offset)
        .where(
            ConsumerOffset.consumer_group == group,
            tuple_(ConsumerOffset.topic, ConsumerOffset.partition).in_(wanted),
        )
        .order_by(ConsumerOffset.topic, ConsumerOffset.partition)
        .with_for_update()
    )
    return {(t, p): o for t, p, o in conn.execute(query) if o >= 0}


def save_offsets(conn: Connection, group: str, next_offsets: Mapping[Partition, int]) -> None:
    """Store next offsets; call inside the transaction that wrote the batch's rows."""
    now = datetime.now(UTC)
    rows = [
        {"consumer_group": group, "topic": t, "partition": p, "next_offset": o, "updated_at": now}
        for (t, p), o in sorted(next_offsets.items())
    ]
    upsert(conn, table_of(ConsumerOffset), rows, ("consumer_group", "topic", "partition"))
