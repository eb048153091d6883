"""The ingest endpoint's own settings: the `[ingest]` table (CASEBUS_INGEST__*)."""

from __future__ import annotations

from pydantic import Field

from casebus.config import Section


class IngestSettings(Section):
    table = "ingest"

    host: str = "127.0.0.1"
    port: int = Field(8082, ge=1, le=65535)
    # Agency X's token: env <prefix><X, "-" → "_">, e.g. CASEBUS_INGEST_TOKEN_510500_SAMR.
    token_env_prefix: str = "CASEBUS_INGEST_TOKEN_"
    max_batch: int = Field(1000, ge=1)
    kafka_timeout_seconds: float = Field(10, gt=0)  # longer than this without acks: 503
    # Group commit (services/ingest/producer.py): the requests that wait while a transaction
    # is in flight share the next one, up to this many events; with a linger, the committer
    # also waits this long for more before it begins one (0: the transaction in flight is
    # the only wait).
    group_max_events: int = Field(2000, ge=1)
    # Transactions in flight at once, each on a producer (and transactional id) of its own.
    group_committers: int = Field(2, ge=1, le=8)
    group_linger_ms: float = Field(0, ge=0, le=1000)
