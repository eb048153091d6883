"""What the system modules share: auth checks and slicing a change list."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import HTTPException

from services.sandbox.state import SandboxState


def require_key(state: SandboxState, system: str, given: str | None) -> None:
    expected = state.credentials[system]
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(401, detail="invalid or missing API key")


def bodies(state: SandboxState, system: str, since: int, *, seq_field: str) -> list[dict[str, Any]]:
    """Current version of every record changed after `since`, each with its change number."""
    return [{**v.body, seq_field: v.seq} for _, v in state.rows(system, since)]
