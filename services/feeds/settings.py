"""The feeds service's own knobs: the `[feeds]` table's keys other than the shared topic,
group and transactional-id names (CASEBUS_FEEDS__*)."""

from __future__ import annotations

from pydantic import Field

from casebus.config import Section


class FeedTuning(Section):
    table = "feeds"

    batch_size: int = Field(500, ge=1)  # one Kafka transaction per polled batch
    poll_timeout_ms: int = Field(500, ge=1)
    # How long a transaction's offsets and commit may take before the producer is given up
    # and replaced (casebus/kafka/bounded.py); below the broker's transaction timeout (60 s).
    transaction_deadline_seconds: float = Field(30.0, gt=0, lt=60)
    # Having fetched nothing this long while its partitions hold unread leads, the feeds'
    # Kafka client has stopped fetching (as kafka-python can under node kills): replaced.
    stuck_after_seconds: float = Field(30.0, gt=0)
