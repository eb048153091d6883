"""The sync's own knobs: the `[sync]` table's keys other than the shared ones
(CASEBUS_SYNC__*). Subscriptions, group, DLQ and topic names stay in casebus.config, since
the ACL plan derives grants from them."""

from __future__ import annotations

from pydantic import Field

from casebus.config import Section


class SyncTuning(Section):
    table = "sync"

    batch_size: int = Field(2000, ge=1)
    poll_timeout_ms: int = Field(1000, ge=1)
    retry_max_seconds: float = Field(10.0, gt=0)  # backoff cap while the DB/registry is down
    # Decode, prepare and validate the next batch in a forked worker process during a backlog
    # (pipeline/decode_worker.py): 1.15-1.26x the events/s on 2 cores (bench/sync.py against
    # bench/sync.py --inline), for 60-90 MB more memory. Off: one process does everything,
    # batch after batch.
    decode_worker: bool = True
    # Group membership (pipeline/coverage.py): dynamic members, so a restarted or added
    # process always gets an assignment computed from the partitions the broker has now.
    # A SIGKILLed member's partitions move to the others once its session times out.
    session_timeout_ms: int = Field(10_000, ge=6_000)  # the broker's minimum is 6 s
    # How old the partition list may be: topics created and partitions added are noticed
    # (and the group rebalanced) within this long.
    metadata_refresh_ms: int = Field(5_000, ge=500)
    # Fetching nothing this long: holding no partitions while subscribed partitions have
    # unread events is "stuck" (the member rejoins the group); holding partitions with unread
    # records is "stalled" (the Kafka client is replaced).
    stuck_after_seconds: float = Field(30.0, gt=0)
    # Ready (/readyz) only while the records this process's partitions have unread are at
    # most this many (pipeline/observe.py); a sync that catches up after a restart is not
    # ready until then.
    ready_max_lag: int = Field(10_000, ge=0)
