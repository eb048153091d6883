"""The sandbox's own settings: the `[sandbox]` table (CASEBUS_SANDBOX__*)."""

from __future__ import annotations

from pydantic import Field

from casebus.config import Section


class SandboxSettings(Section):
    table = "sandbox"

    host: str = "127.0.0.1"
    port: int = Field(8090, ge=1, le=65535)
    seed: int = 20241
    invalid_share: float = Field(0.05, ge=0, le=1)
    error_rate: float = Field(0.02, ge=0, le=1)
    rate_limit_per_second: float = Field(50, gt=0)
    records_per_system: int = Field(30, ge=1, le=100_000)
    latency_ms: float = Field(0, ge=0)  # added to every data request (tests slow it down)
    retry_after_seconds: int = Field(1, ge=0)  # sent with 429
