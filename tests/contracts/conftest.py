"""Settings for the pure validation tests (no broker needed)."""

from __future__ import annotations

import pytest

from casebus.config import Settings, load_settings


@pytest.fixture(scope="session")
def default_settings() -> Settings:
    return load_settings()
