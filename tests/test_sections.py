"""Settings a service owns (casebus.config.Section): loaded with the rest, validated by the
service's own model, overridable from the environment (offline)."""

from __future__ import annotations

import pytest

from casebus.config import SERVICE_TABLES, ConfigError, load_settings
from cli import SECTIONS, check_sections
from pipeline.settings import SyncTuning
from services.feeds.settings import FeedTuning
from services.ingest.settings import IngestSettings
from services.sandbox.settings import SandboxSettings

pytestmark = pytest.mark.offline


def test_every_service_table_has_its_model() -> None:
    assert sorted(m.table for m in SECTIONS) == sorted(SERVICE_TABLES)


def test_environment_overrides_reach_the_service_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASEBUS_SANDBOX__PORT", "8191")
    settings = load_settings()
    assert SandboxSettings.of(settings).port == 8191
    assert SandboxSettings.of(settings) is SandboxSettings.of(settings)  # validated once
    assert IngestSettings.of(settings).port == 8082  # the model's default


def test_a_changed_table_is_validated_again() -> None:
    settings = load_settings()
    changed = settings.model_copy(update={"sandbox": {**settings.sandbox, "seed": 7}})
    assert SandboxSettings.of(changed).seed == 7
    assert SandboxSettings.of(settings).seed == 20241


def test_a_bad_value_names_the_table_key_and_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASEBUS_INGEST__MAX_BATCH", "0")
    with pytest.raises(ConfigError, match=r"ingest\.max_batch: Input should be greater than"):
        check_sections()
    monkeypatch.setenv("CASEBUS_INGEST__MAX_BATCH", "10")
    monkeypatch.setenv("CASEBUS_INGEST__NO_SUCH_KEY", "1")
    with pytest.raises(ConfigError, match=r"ingest\.no_such_key: Extra inputs"):
        check_sections()


def test_a_shared_table_gives_its_service_only_the_keys_the_core_does_not_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CASEBUS_SYNC__BATCH_SIZE", "300")
    monkeypatch.setenv("CASEBUS_SYNC__GROUP_ID", "casebus.sync.custom")
    settings = load_settings()
    assert SyncTuning.of(settings).batch_size == 300
    assert SyncTuning.of(settings).decode_worker  # the model's default
    assert settings.sync.group_for("510500-SAMR") == "casebus.sync.custom"  # the core's key
    assert FeedTuning.of(settings).batch_size == 500
    copied = settings.model_copy(
        update={"sync": settings.sync.model_copy(update={"decode_worker": False})}
    )
    assert not SyncTuning.of(copied).decode_worker
    assert SyncTuning.of(settings).decode_worker


def test_a_misspelt_key_of_a_shared_table_still_fails_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CASEBUS_SYNC__BATCH_SIZ", "300")
    with pytest.raises(ConfigError, match=r"sync\.batch_siz: Extra inputs"):
        check_sections()
    monkeypatch.delenv("CASEBUS_SYNC__BATCH_SIZ")
    monkeypatch.setenv("CASEBUS_FEEDS__POLL_TIMEOUT_MS", "0")
    with pytest.raises(ConfigError, match=r"feeds\.poll_timeout_ms: Input should be greater"):
        check_sections()
