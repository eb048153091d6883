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
