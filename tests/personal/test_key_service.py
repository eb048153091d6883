"""The regions' key services (`casebus --region R keys serve`), each a real process over
HTTPS with its own key store and key-encryption keys, and the client the code uses when
config names them (RemoteKeyStore). No broker: a var folder and config of the module's own."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from fastavro import parse_schema, schemaless_writer

from bench.two_regions import LUZHOU, QIJIANG, free_port, start_key_service, write_config
from casebus.config import Settings, load_settings
from casebus.contracts.schemas import schema_for_topic
from casebus.personal import envelope
from casebus.personal.cipher import Sealer
from casebus.personal.erasure import verify
from casebus.personal.keystore import keys_for
from casebus.personal.remote import RemoteKeyStore
from casebus.process import ServiceProcess
from casebus.security.principals import all_principals
from casebus.security.secrets import SecretStore
from cli import main
from pipeline.personal import opener_for
from tests.personal.test_keys_and_databases import PERSON, natural_person_penalty

PRINCIPALS = (
    "casebus-admin",
    "ingest",
    "replay",
    "feeds",
    "registry",
    "mirror",
    "platform.jd",
    "connector.510500-SAMR",
    "connector.510500-CAC",
    "connector.500110-SAMR",
    "sync.510500-SAMR",
    "sync.510500-PSB",
    "sync.510500-COM",
    "sync.500110-SAMR",
)
OTHER = "500222199912121236"  # a person only Qijiang's SAMR published


@dataclass
class Services:
    home: Path
    urls: dict[str, str]
    ca: str
    secrets: SecretStore

    def settings(self) -> Settings:
        return load_settings()

    def ask(
        self, region: str, principal: str, method: str, path: str, **kwargs: Any
    ) -> requests.Response:
        auth = (principal, self.secrets.get(principal))
        return requests.request(
            method, self.urls[region] + path, auth=auth, verify=self.ca, timeout=10, **kwargs
        )


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    home = tmp_path_factory.mktemp("keysvc")
    ports = {LUZHOU: 19092, QIJIANG: 29092}  # no broker here: the config's own
    registries = {LUZHOU: 18081, QIJIANG: 28081}
    key_ports = {LUZHOU: free_port(), QIJIANG: free_port()}
    config = write_config(home / "config", ports, registries, key_ports)
    env = {
        "CASEBUS_CONFIG": str(config),
        "CASEBUS_VAR_DIR": str(home / "var"),
        # What a region's processes use (its cluster's settings replace [kafka]'s).
        "CASEBUS_KAFKA__SECURITY__SECRETS_DIR": str(home / "var" / "secrets"),
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        settings = load_settings()
        secrets = SecretStore(settings.secrets_dir)
        assert {p.name for p in all_principals(settings)} >= set(PRINCIPALS) - {"mirror"}
        for name in PRINCIPALS:
            secrets.ensure(name)
        started: list[ServiceProcess] = []
        try:
            for region in (LUZHOU, QIJIANG):
                started.append(
                    start_key_service(
                        home, region, key_ports[region], {**os.environ, **env}, settings.ca_file
                    )
                )
            urls = {
                "510500": f"https://127.0.0.1:{key_ports[LUZHOU]}",
                "500110": f"https://127.0.0.1:{key_ports[QIJIANG]}",
            }
            yield Services(home, urls, str(settings.ca_file), secrets)
        finally:
            for process in started:
                process.stop()


def _refused(answer: requests.Response, status: int, principal: str, rule: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["principal"] == principal and body["rule"] == rule, body
    assert principal in body["detail"]


def test_producers_get_their_own_owners_keys_only(services: Services) -> None:
    settings = services.settings()
    made = keys_for(settings, create=True)
    assert isinstance(made, RemoteKeyStore)  # config names key services: the client
    key = made.data_key("510500-SAMR", "510502198101011232")  # as connector.510500-SAMR
    assert key is not None and key.owner == "510500-SAMR" and len(key.dek) == 32
    again = RemoteKeyStore(settings, principal="ingest").data_key(
        "510500-SAMR", "510502198101011232"
    )
    assert again == key  # ingest publishes for any agency: the same person, the same key

    body = {"owner": "510500-SAMR", "subject": "510502198101011232"}
    answer = services.ask("510500", "connector.510500-CAC", "POST", "/v1/data-keys", json=body)
    _refused(answer, 403, "connector.510500-CAC", "producer-of-owner")
    # Qijiang's producer asks its own region's service; Luzhou's does not hold its keys.
    body = {"owner": "500110-SAMR", "subject": OTHER}
    answer = services.ask("510500", "connector.500110-SAMR", "POST", "/v1/data-keys", json=body)
    _refused(answer, 403, "connector.500110-SAMR", "owner-region")
    for who in ("feeds", "platform.jd", "mirror", "registry", "sync.510500-SAMR", "replay"):
        answer = services.ask(
            "510500", who, "POST", "/v1/data-keys", json={**body, "owner": "510500-SAMR"}
        )
        _refused(answer, 403, who, "producer-of-owner")


def test_readers_open_what_config_grants(services: Services) -> None:
    settings = services.settings()
    key = RemoteKeyStore(settings).data_key("510500-SAMR", "510502198202021239")
    assert key is not None
    path = f"/v1/data-keys/{key.key_id}"
    for reader in ("510500-SAMR", "510500-PSB", "500110-SAMR"):  # the owner, two granted
        assert RemoteKeyStore(settings, reader=reader).open_key(key.key_id, key.owner) == key
    # Replay and the admin open on behalf of a named agency, with the same check.
    opened = RemoteKeyStore(settings, principal="replay", reader="510500-PSB")
    assert opened.open_key(key.key_id, key.owner) == key
    answer = services.ask("510500", "casebus-admin", "GET", path, params={"agency": "510500-COM"})
    _refused(answer, 403, "casebus-admin", "personal.grants")
    _refused(services.ask("510500", "replay", "GET", path), 403, "replay", "on-behalf-of-agency")

    # Not granted: 403 naming the rule; the client answers None (the value stays sealed).
    _refused(
        services.ask("510500", "sync.510500-COM", "GET", path),
        403,
        "sync.510500-COM",
        "personal.grants",
    )
    assert RemoteKeyStore(settings, reader="510500-COM").open_key(key.key_id, key.owner) is None
    # A sync opens for its own agency only.
    answer = services.ask("510500", "sync.510500-COM", "GET", path, params={"agency": "510500-PSB"})
    _refused(answer, 403, "sync.510500-COM", "sync-for-own-agency")
    for who in ("feeds", "platform.jd", "mirror", "registry", "connector.510500-SAMR", "ingest"):
        answer = services.ask("510500", who, "GET", path, params={"agency": "510500-SAMR"})
        _refused(answer, 403, who, "readers-are-agencies")
        _refused(
            services.ask("510500", who, "GET", "/v1/erasures"), 403, who, "erasure-log-readers"
        )

    unknown = services.ask("510500", "sync.510500-SAMR", "GET", "/v1/data-keys/" + "0" * 32)
    assert unknown.status_code == 404 and unknown.json()["erased"] is False


def test_wrong_or_missing_credentials_are_401(services: Services) -> None:
    url = services.urls["510500"] + "/v1/erasures"
    for auth in (("sync.510500-SAMR", "wrong"), ("nobody", "x"), None):
        answer = requests.get(url, auth=auth, verify=services.ca, timeout=10)
        assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Basic")
        assert answer.json()["rule"] == "authenticate"
    with pytest.raises(requests.exceptions.SSLError):  # HTTPS, a certificate of the local CA
        requests.get(url, timeout=10)


def test_a_qijiang_opener_opens_what_luzhou_sealed_through_luzhous_service(
    services: Services,
) -> None:
    settings = services.settings()
    event = natural_person_penalty()  # 510500-SAMR's, shared with region 500110
    sealed = Sealer(keys_for(settings, create=True)).seal(event, "casebus.penalty")
    text = sealed["penalty"]["person_id_no"]
    assert envelope.is_sealed(text) and PERSON not in str(sealed)
    opened = opener_for(settings, "500110-SAMR").open(sealed, "penalty", sealed["penalty"])
    assert opened.payload["person_id_no"] == PERSON and opened.opened == 2
    # Qijiang's own service never held the key: nothing of Luzhou's is on its disk.
    key_id = opened.keys["penalty.person_id_no"]
    assert (
        services.ask("500110", "sync.500110-SAMR", "GET", f"/v1/data-keys/{key_id}").status_code
        == 404
    )
    assert (services.home / "keys-luzhou" / "kek" / "510500-SAMR.key").is_file()
    assert not (services.home / "keys-qijiang" / "kek" / "510500-SAMR.key").exists()
    # Not shared with it: the Opener leaves it sealed without asking.
    private = {**sealed, "shared_with": []}
    assert (
        opener_for(settings, "500110-SAMR").open(private, "penalty", sealed["penalty"]).sealed == 2
    )


def test_erase_in_every_region_then_keys_are_gone_and_the_erasure_verifies(
    services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = services.settings()
    person = "510502198303031233"
    luzhou = RemoteKeyStore(settings).data_key("510500-SAMR", person)
    qijiang = RemoteKeyStore(settings).data_key("500110-SAMR", person)
    assert luzhou is not None and qijiang is not None
    reader = RemoteKeyStore(settings, reader="510500-PSB")
    assert reader.open_key(luzhou.key_id, "510500-SAMR") == luzhou
    # A running producer and a running reader, which hold the keys in memory.
    event = natural_person_penalty()
    event["penalty"]["person_id_no"] = person
    sealer = Sealer(keys_for(settings, create=True))
    sealed = sealer.seal(event, "casebus.penalty")
    opener = opener_for(settings, "500110-SAMR")
    assert opener.open(sealed, "penalty", sealed["penalty"]).payload["person_id_no"] == person

    argv = ["personal", "erase", "--subject", person, "--agency", "510500-SAMR", "--by", "张三"]
    assert main([*argv, "--reason", "当事人申请"]) == 0
    out = capsys.readouterr().out
    assert "region 500110: erasure 500110/" in out and "region 510500: erasure 510500/" in out
    assert out.count("1 data keys destroyed") == 2

    # Both notice within seconds (here: at once) and forget the keys they held.
    opener._fresh._checked = sealer._fresh._checked = 0.0
    opened = opener.open(sealed, "penalty", sealed["penalty"])
    assert opened.payload["person_id_no"] == envelope.ERASED and opened.erased == 2
    again = sealer.seal(event, "casebus.penalty")
    assert again["penalty"]["person_id_no"] == envelope.ERASED

    answer = services.ask("510500", "sync.510500-PSB", "GET", f"/v1/data-keys/{luzhou.key_id}")
    assert answer.status_code == 404 and answer.json()["erased"] is True
    reader.forget()
    assert reader.open_key(luzhou.key_id, "510500-SAMR") is None
    assert luzhou.key_id in reader.erased_key_ids() and qijiang.key_id in reader.erased_key_ids()
    assert RemoteKeyStore(settings).data_key("510500-SAMR", person) is None  # 410: no new key
    assert RemoteKeyStore(settings).data_key("500110-SAMR", person) is None

    found = {
        e.source: e
        for e in reader.erasures()
        if luzhou.key_id in e.key_ids or qijiang.key_id in e.key_ids
    }
    assert set(found) == {"510500", "500110"}
    assert found["510500"].key_ids == (luzhou.key_id,) and found["500110"].key_ids == (
        qijiang.key_id,
    )
    assert all(verify(settings, e) for e in found.values())
    assert found["510500"].erased_by == "张三 (510500-SAMR)"

    # Only the admin erases; a sync lists, a producer sees only the latest id.
    body = {"subject": person}
    _refused(
        services.ask("510500", "replay", "POST", "/v1/erasures/prepare", json=body),
        403,
        "replay",
        "admin-erases",
    )
    latest = services.ask("510500", "connector.510500-SAMR", "GET", "/v1/erasures/latest")
    assert latest.json()["latest"] == found["510500"].id
    # An erasure whose signature does not cover what it names is refused.
    forged = {
        "subject": OTHER,
        "key_ids": [],
        "erased_at": found["510500"].erased_at,
        "erased_by": "x",
        "reason": "",
        "signed_by": found["510500"].signed_by,
        "signature": found["510500"].signature,
    }
    answer = services.ask("510500", "casebus-admin", "POST", "/v1/erasures", json=forged)
    _refused(answer, 403, "casebus-admin", "signature")

    assert main(["personal", "erasures", "--json"]) == 0
    import json

    listed = json.loads(capsys.readouterr().out)
    assert {(e["region"], e["signature_ok"]) for e in listed} >= {
        ("510500", True),
        ("500110", True),
    }


def test_a_batchs_keys_come_in_one_request_per_region(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the decode worker does before a batch (Opener.prefetch): the key ids read from
    the encoded records, then one `POST /v1/data-keys/open` per region, answering for each
    key; opening the values after asks nothing more."""
    settings = services.settings()
    event = natural_person_penalty()  # 510500-SAMR's, shared with region 500110
    sealed = Sealer(keys_for(settings, create=True)).seal(event, "casebus.penalty")
    encoded = io.BytesIO()
    schemaless_writer(encoded, parse_schema(schema_for_topic("casebus.penalty")), sealed)
    (samr,) = envelope.key_ids_in(encoded.getvalue())  # both fields: the person's one key
    assert envelope.key_ids_in(b"casebus-fle1:%%%" + encoded.getvalue()[:20]) == set()
    cac = RemoteKeyStore(settings).data_key("510500-CAC", "510502198404041230")
    own = RemoteKeyStore(settings).data_key("500110-SAMR", OTHER)
    assert cac is not None and own is not None
    unknown = "0" * 32

    asked: list[str] = []
    real = requests.Session.request

    def counted(self: requests.Session, method: str, url: str, **kwargs: Any) -> Any:
        asked.append(f"{method} {url}")
        return real(self, method, url, **kwargs)

    monkeypatch.setattr(requests.Session, "request", counted)
    reader = opener_for(settings, "500110-SAMR")  # granted Luzhou SAMR's, not its CAC's
    wanted = [(encoded.getvalue(), "510500-SAMR"), (b"", "510500-SAMR")]
    reader.prefetch([])  # (its first look at the erasure logs forgets what it held)
    reader.keys.prefetch([(cac.key_id, cac.owner), (own.key_id, own.owner), (unknown, "")])
    reader.prefetch(wanted)
    # One per region for the three keys, one for the batch's; the erasure logs' heads.
    assert sorted(a.split()[0] for a in asked) == ["GET", "GET", "POST", "POST", "POST"], asked
    asked.clear()
    opened = reader.open(sealed, "penalty", sealed["penalty"])
    assert opened.payload["person_id_no"] == PERSON and opened.keys["penalty.person_id_no"] == samr
    assert reader.keys.open_key(own.key_id, own.owner) == own
    assert reader.keys.open_key(cac.key_id, cac.owner) is None  # not granted
    assert reader.keys.open_key(unknown) is None
    assert not [a for a in asked if "data-keys" in a]  # all answered by the batches

    answer = services.ask(
        "510500",
        "sync.500110-SAMR",
        "POST",
        "/v1/data-keys/open",
        json={"key_ids": [samr, cac.key_id, unknown]},
    ).json()
    assert [k["key_id"] for k in answer["keys"]] == [samr]
    assert answer["missing"] == {cac.key_id: "not granted", unknown: "unknown"}
    refused = services.ask("510500", "feeds", "POST", "/v1/data-keys/open", json={"key_ids": []})
    _refused(refused, 403, "feeds", "readers-are-agencies")
