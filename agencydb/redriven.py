"""Which DLQ records were redriven into this database: the event log names each by its DLQ
position (topic, partition, offset), written in the same transaction as the rows it
applied, so what a redrive remembers is exactly what it committed."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, inspect, select

from agencydb.rows import EVENT_LOG

Position = tuple[int, int]  # (DLQ partition, DLQ offset)


def redriven(
    conn: Connection, dlq_topic: str, among: Iterable[Position] | None = None
) -> set[Position]:
    """The positions of `dlq_topic` already redriven (of `among`, if given)."""
    log = EVENT_LOG.c
    query = select(log.dlq_partition, log.dlq_offset).where(log.dlq_topic == dlq_topic)
    wanted = None if among is None else set(among)
    if wanted is not None:
        if not wanted:
            return set()
        query = query.where(
            log.dlq_offset.between(min(o for _, o in wanted), max(o for _, o in wanted))
        )
    found = {(int(p), int(o)) for p, o in conn.execute(query)}
    return found if wanted is None else found & wanted


def knows_redrive(conn: Connection) -> bool:
    """Whether the database is migrated far enough to hold DLQ positions (a read-only view
    of an older database does not migrate it)."""
    if not inspect(conn).has_table("event_log"):
        return False
    return any(c["name"] == "dlq_topic" for c in inspect(conn).get_columns("event_log"))
