"""The key service's rules, config and the erasure identity, offline (no service, no broker)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agencydb.engine import open_database
from agencydb.erasure import carried_out, carry_out
from agencydb.rows import RowBuilder
from bench.two_regions import with_key_services
from casebus.config import PROJECT_ROOT, Settings, load_settings
from casebus.personal.keystore import Erasure, KeyStore, keys_for
from casebus.personal.remote import RemoteKeyStore
from services.keys.access import Access, Denied, role_of

pytestmark = pytest.mark.offline


@pytest.fixture
def settings() -> Settings:
    return load_settings()


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The default config with a key service in each region."""
    folder = tmp_path / "config"
    folder.mkdir()
    for name in ("casebus.toml", "connectors.toml", "sync.toml"):
        text = (PROJECT_ROOT / "config" / name).read_text("utf-8")
        if name == "casebus.toml":
            text = with_key_services(
                text, {"luzhou": 18081, "qijiang": 28081}, {"luzhou": 18443, "qijiang": 28443}
            )
        (folder / name).write_text(text, "utf-8")
    monkeypatch.setenv("CASEBUS_CONFIG", str(folder / "casebus.toml"))
    return load_settings()


def _refusal(call: object, rule: str) -> Denied:
    assert callable(call)
    with pytest.raises(Denied) as caught:
        call()
    assert caught.value.status == 403 and caught.value.rule == rule
    return caught.value


def test_without_a_configured_service_the_local_store_is_used(settings: Settings) -> None:
    assert settings.key_services == {}
    assert isinstance(keys_for(settings, create=True), KeyStore)


def test_config_names_each_regions_service_and_where_an_owners_keys_are(served: Settings) -> None:
    assert served.key_services == {
        "510500": "https://127.0.0.1:18443",
        "500110": "https://127.0.0.1:28443",
    }
    assert isinstance(keys_for(served, reader="500110-SAMR"), RemoteKeyStore)
    assert served.key_region_of("510500-SAMR") == "510500"
    assert served.key_region_of("500110-PSB") == "500110"
    # A platform belongs to no region: its connectors run in the primary registry's.
    assert served.key_region_of("PLATFORM-JD") == "510500"
    cluster = served.cluster_of(served.region_named("qijiang"))
    assert cluster.key_service_port == 28443


def test_principals_roles(settings: Settings) -> None:
    assert role_of(settings, "casebus-admin").role == "admin"
    assert role_of(settings, "connector.510500-SAMR").agency == "510500-SAMR"
    assert role_of(settings, "connector.PLATFORM-JD").role == "connector"
    assert role_of(settings, "sync.500110-SAMR").agency == "500110-SAMR"
    for name in ("feeds", "registry", "mirror", "platform.jd", "sync.PLATFORM-JD", "connector.x"):
        assert role_of(settings, name).role == "other"


def test_who_may_make_a_data_key(settings: Settings) -> None:
    access = Access(settings)
    access.may_make(role_of(settings, "connector.510500-SAMR"), "510500-SAMR")
    access.may_make(role_of(settings, "ingest"), "500110-SAMR")
    access.may_make(role_of(settings, "connector.PLATFORM-JD"), "PLATFORM-JD")
    _refusal(
        lambda: access.may_make(role_of(settings, "ingest"), "PLATFORM-JD"), "producer-of-owner"
    )
    for name in ("connector.510500-CAC", "sync.510500-SAMR", "casebus-admin", "feeds"):
        denied = _refusal(
            lambda n=name: access.may_make(role_of(settings, n), "510500-SAMR"), "producer-of-owner"
        )
        assert name in str(denied) and denied.principal == name


def test_who_may_open_a_key(settings: Settings) -> None:
    access = Access(settings)
    sync = role_of(settings, "sync.500110-SAMR")
    assert access.reader(sync, None) == "500110-SAMR"
    access.may_open(sync, "500110-SAMR", "510500-SAMR")  # granted (shared cases)
    access.may_open(sync, "500110-SAMR", "500110-SAMR")  # its own
    _refusal(lambda: access.may_open(sync, "500110-SAMR", "510500-CAC"), "personal.grants")
    _refusal(lambda: access.reader(sync, "510500-PSB"), "sync-for-own-agency")
    replay = role_of(settings, "replay")
    assert access.reader(replay, "510500-PSB") == "510500-PSB"
    _refusal(lambda: access.reader(replay, None), "on-behalf-of-agency")
    _refusal(lambda: access.reader(replay, "PLATFORM-JD"), "on-behalf-of-agency")
    for name in ("feeds", "platform.jd", "mirror", "registry", "connector.510500-SAMR", "ingest"):
        _refusal(
            lambda n=name: access.reader(role_of(settings, n), "510500-SAMR"),
            "readers-are-agencies",
        )


def test_who_may_read_the_erasure_log_and_erase(settings: Settings) -> None:
    access = Access(settings)
    for name in ("sync.510500-PSB", "replay", "casebus-admin"):
        access.may_list(role_of(settings, name))
    access.may_list(role_of(settings, "connector.510500-SAMR"), latest_only=True)
    _refusal(
        lambda: access.may_list(role_of(settings, "connector.510500-SAMR")), "erasure-log-readers"
    )
    _refusal(
        lambda: access.may_list(role_of(settings, "feeds"), latest_only=True), "erasure-log-readers"
    )
    access.may_erase(role_of(settings, "casebus-admin"))
    _refusal(lambda: access.may_erase(role_of(settings, "replay")), "admin-erases")


def test_an_erasure_is_known_by_its_source_and_id() -> None:
    local = Erasure(3, "ref", ("k",), "t", "by", "", "key", "sig")
    remote = Erasure(3, "ref", ("k",), "t", "by", "", "key", "sig", "510500")
    assert local.identity != remote.identity and local.body() == remote.body()
    assert (local.label, remote.label) == ("3", "510500/3")


def test_a_database_carries_out_erasures_of_two_regions_numbered_alike(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'agency.sqlite'}")
    rows, now = RowBuilder(engine.dialect), datetime.now(UTC)
    both = {("510500", 1): frozenset({"a" * 32}), ("500110", 1): frozenset({"b" * 32})}
    with engine.begin() as conn:
        assert carry_out(conn, both, rows, now) == 0  # no rows held those keys
        assert carried_out(conn) == set(both)
    with engine.begin() as conn:  # each once; the local store's erasure 1 is another one
        assert carry_out(conn, {**both, ("", 1): frozenset()}, rows, now) == 0
        assert carried_out(conn) == {*both, ("", 1)}
    engine.dispose()


def test_an_unreachable_key_service_is_retried_later_not_read_as_unreadable(
    served: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing listens on the configured port: the client raises a RetryAfter (the sync
    keeps its batch, ingest answers 503) instead of answering None."""
    from casebus.personal.remote import KeyServiceUnavailable
    from casebus.retry import RetryAfter
    from casebus.security.secrets import SecretStore

    monkeypatch.setenv("CASEBUS_KAFKA__SECURITY__SECRETS_DIR", str(tmp_path / "secrets"))
    settings = load_settings()
    SecretStore(settings.secrets_dir).ensure("sync.510500-SAMR")
    settings.ca_file.parent.mkdir(parents=True, exist_ok=True)
    settings.ca_file.write_text("")  # never read: nothing answers the connection
    monkeypatch.setattr("casebus.personal.remote.time.sleep", lambda _: None)
    reader = RemoteKeyStore(settings, reader="510500-SAMR")
    with pytest.raises(KeyServiceUnavailable, match="key service of 510500") as caught:
        reader.open_key("ab" * 16, "510500-SAMR")
    assert isinstance(caught.value, RetryAfter)
    assert "ab" * 16 not in reader._open  # nothing remembered: asked again next time
