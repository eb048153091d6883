"""Consumer offsets kept in the agency database, next to the rows they produced."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from services.sync.db.models import ConsumerOffset, table_of
from services.sync.writes import upsert

Partition = tuple[str, int]  # (topic, partition)


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
    return {(t, p): o for t, p, o in conn.execute(query) if (t, p) in wanted}


def save_offsets(conn: Connection, group: str, next_offsets: Mapping[Partition, int]) -> None:
    """Store next offsets; call inside the transaction that wrote the batch's rows."""
    now = datetime.now(UTC)
    rows = [
        {"consumer_group": group, "topic": t, "partition": p, "next_offset": o, "updated_at": now}
        for (t, p), o in sorted(next_offsets.items())
    ]
    upsert(conn, table_of(ConsumerOffset), rows, ("consumer_group", "topic", "partition"))
