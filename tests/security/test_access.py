"""Who may do what, against the real secured broker and registry: each principal can do its
own job (the other suites) and nothing else (here), with the exact error Kafka gives.

The negative side is checked with confluent-kafka (librdkafka), which reports the broker's
error codes as they come; the default config's ACLs are the ones under test.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from casebus.config import Settings
from casebus.contracts.partner import partner_schema
from casebus.kafka.topics import ensure_topics
from casebus.security.principals import platform, sync
from tests.fixtures.kafka import confluent_options
from tests.fixtures.registry import admin_auth, principal_auth

ck = pytest.importorskip("confluent_kafka")

PENALTY, LEAD = "casebus.penalty", "casebus.lead"
JD_FEED, ALIBABA_FEED = "casebus.feed.jd.leads", "casebus.feed.alibaba.leads"


@pytest.fixture(scope="module", autouse=True)
def _configured_topics(kafka_admin: Any, kafka_bootstrap: str) -> None:
    from tests.fixtures.kafka import base_settings

    ensure_topics(kafka_admin, base_settings(kafka_bootstrap))


def _errors_connecting(conf: dict[str, Any]) -> list[Any]:
    """The errors a client gets trying to connect; it must get no metadata at all."""
    errors: list[Any] = []
    client = ck.Producer({**conf, "error_cb": errors.append})
    with pytest.raises(ck.KafkaException):
        client.list_topics(timeout=4)
    for _ in range(20):  # error callbacks are served by poll
        client.poll(0.2)
        if errors:
            break
    return errors


def test_wrong_password_is_an_authentication_failure(kafka_bootstrap: str) -> None:
    conf = {**confluent_options(kafka_bootstrap, platform("jd")), "sasl.password": "not-it"}
    errors = _errors_connecting(conf)
    assert any(e.code() == ck.KafkaError._AUTHENTICATION for e in errors), errors
    assert any("invalid credentials with SASL mechanism SCRAM-SHA-512" in e.str() for e in errors)


def test_a_principal_config_does_not_know_cannot_authenticate(kafka_bootstrap: str) -> None:
    conf = {**confluent_options(kafka_bootstrap), "sasl.username": "mallory"}
    errors = _errors_connecting(conf)
    assert any(e.code() == ck.KafkaError._AUTHENTICATION for e in errors), errors


def test_no_credentials_no_connection(kafka_bootstrap: str) -> None:
    """TLS without SASL: the broker answers nothing before authentication."""
    conf = confluent_options(kafka_bootstrap)
    bare = {
        "bootstrap.servers": conf["bootstrap.servers"],
        "security.protocol": "SSL",
        "ssl.ca.location": conf["ssl.ca.location"],
    }
    down = {ck.KafkaError._TRANSPORT, ck.KafkaError._ALL_BROKERS_DOWN, ck.KafkaError._SSL}
    for conf in (bare, {"bootstrap.servers": kafka_bootstrap}):  # TLS only; plaintext
        errors = _errors_connecting(conf)
        assert errors and {e.code() for e in errors} <= down, errors


def _read_error(bootstrap: str, principal: str, topic: str, group: str | None = None) -> Any:
    """The error a consumer of `principal` gets reading `topic` (None: it read without one)."""
    conf = {
        **confluent_options(bootstrap, principal),
        "group.id": group or f"casebus.feed.jd.probe-{uuid.uuid4().hex[:6]}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    consumer = ck.Consumer(conf)
    try:
        consumer.subscribe([topic])
        for _ in range(20):
            message = consumer.poll(0.5)
            if message is not None and message.error() is not None:
                return message.error()
        return None
    finally:
        consumer.close()


@pytest.mark.parametrize("topic", [PENALTY, LEAD, ALIBABA_FEED])
def test_jd_reads_no_shared_topic_and_no_other_feed(kafka_bootstrap: str, topic: str) -> None:
    error = _read_error(kafka_bootstrap, platform("jd"), topic)
    assert error is not None and error.code() == ck.KafkaError.TOPIC_AUTHORIZATION_FAILED, error


def test_jd_reads_its_own_feed_in_a_group_under_its_prefix(kafka_bootstrap: str) -> None:
    assert _read_error(kafka_bootstrap, platform("jd"), JD_FEED) is None


@pytest.mark.parametrize("group", ["casebus.sync.510500-PSB", "casebus.feeds", "jd-own-name"])
def test_jd_joins_no_group_outside_its_prefix(kafka_bootstrap: str, group: str) -> None:
    error = _read_error(kafka_bootstrap, platform("jd"), JD_FEED, group=group)
    assert error is not None and error.code() == ck.KafkaError.GROUP_AUTHORIZATION_FAILED, error


@pytest.mark.parametrize("topic", [PENALTY, LEAD, "casebus.action"])
def test_a_sync_cannot_publish_to_a_shared_topic(kafka_bootstrap: str, topic: str) -> None:
    delivered: list[Any] = []
    producer = ck.Producer(
        {**confluent_options(kafka_bootstrap, sync("510500-CAC")), "message.timeout.ms": 10_000}
    )
    producer.produce(topic, b"forged", on_delivery=lambda err, msg: delivered.append(err))
    producer.flush(15)
    assert len(delivered) == 1
    assert delivered[0] is not None
    assert delivered[0].code() == ck.KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_a_platform_publishes_nothing(kafka_bootstrap: str) -> None:
    delivered: list[Any] = []
    producer = ck.Producer(
        {**confluent_options(kafka_bootstrap, platform("douyin")), "message.timeout.ms": 10_000}
    )
    producer.produce(JD_FEED, b"forged", on_delivery=lambda err, msg: delivered.append(err))
    producer.flush(15)
    assert delivered and delivered[0].code() == ck.KafkaError.TOPIC_AUTHORIZATION_FAILED


# -- the registry --------------------------------------------------------------------------

SCHEMA = '{"type": "record", "name": "Probe", "fields": [{"name": "a", "type": "string"}]}'
CT = "application/vnd.schemaregistry.v1+json"


@pytest.fixture(scope="module")
def feed_subjects(registry_url: str) -> Iterator[dict[str, int]]:
    """The partner contract under each feed's subject, as the feeds service registers it
    (idempotent: the same id whether or not feeds ran before)."""
    schema = json.dumps(partner_schema(), ensure_ascii=False)
    ids = {}
    for topic in (JD_FEED, ALIBABA_FEED):
        answer = _call(
            registry_url, "POST", f"/subjects/{topic}-value/versions", admin_auth(), schema
        )
        assert answer.status_code == 200, answer.text
        ids[topic] = answer.json()["id"]
    yield ids


def _call(
    url: str, method: str, path: str, auth: tuple[str, str] | None, schema: str | None = None
) -> requests.Response:
    body = None if schema is None else requests.compat.json.dumps({"schema": schema})
    return requests.request(
        method, url + path, data=body, auth=auth, headers={"Content-Type": CT}, timeout=10
    )


def _error(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(CT)
    body: dict[str, Any] = response.json()
    assert set(body) == {"error_code", "message"}
    return body


def test_registry_without_or_with_wrong_credentials_is_401(registry_url: str) -> None:
    missing = _call(registry_url, "GET", "/subjects", None)
    assert _error(missing, 401)["error_code"] == 401
    assert missing.headers["www-authenticate"].startswith("Basic")
    name, _ = principal_auth(platform("jd"))
    _error(_call(registry_url, "GET", "/subjects", (name, "not-it")), 401)
    _error(_call(registry_url, "GET", "/subjects", ("mallory", "x")), 401)


def test_a_platform_registering_a_schema_is_403(registry_url: str) -> None:
    jd = principal_auth(platform("jd"))
    answer = _call(registry_url, "POST", f"/subjects/{JD_FEED}-value/versions", jd, SCHEMA)
    body = _error(answer, 403)
    assert body["error_code"] == 40301
    assert "platform.jd is denied Write" in body["message"]
    _error(_call(registry_url, "PUT", "/config", jd, None), 403)
    _error(_call(registry_url, "DELETE", f"/subjects/{JD_FEED}-value", jd), 403)


def test_a_sync_may_not_register_or_reconfigure(registry_url: str) -> None:
    cac = principal_auth(sync("510500-CAC"))
    answer = _call(registry_url, "POST", "/subjects/casebus.penalty-value/versions", cac, SCHEMA)
    _error(answer, 403)


def test_a_platform_reads_its_feed_subject_only(
    registry_url: str, feed_subjects: dict[str, int]
) -> None:
    jd = principal_auth(platform("jd"))
    own = _call(registry_url, "GET", f"/subjects/{JD_FEED}-value/versions/latest", jd)
    assert own.status_code == 200, own.text
    assert _call(registry_url, "GET", f"/schemas/ids/{feed_subjects[JD_FEED]}", jd).ok
    other = _call(registry_url, "GET", f"/subjects/{ALIBABA_FEED}-value/versions/latest", jd)
    assert "denied Read on Subject" in _error(other, 403)["message"]
    shared = _call(registry_url, "GET", "/subjects/casebus.penalty-value/versions", jd)
    _error(shared, 403)
    listed = _call(registry_url, "GET", "/subjects", jd)
    assert listed.ok and f"{JD_FEED}-value" in listed.json()
    # Only JD feeds: its own, and the feed tests' stand-ins its ACLs let it read.
    own = ("feed.jd.leads-value", "feed.jd.leads-key")
    assert all(name.endswith(own) for name in listed.json())


def test_registered_schema_ids_of_other_subjects_are_hidden_from_a_platform(
    registry_url: str, feed_subjects: dict[str, int], settings: Settings
) -> None:
    penalty_id = _call(
        registry_url,
        "POST",
        "/subjects/casebus.penalty-probe-value/versions",
        admin_auth(),
        '{"type": "record", "name": "Other", "fields": [{"name": "b", "type": "long"}]}',
    ).json()["id"]
    jd = principal_auth(platform("jd"))
    _error(_call(registry_url, "GET", f"/schemas/ids/{penalty_id}", jd), 403)
    # Everyone else authenticated reads it.
    assert _call(registry_url, "GET", f"/schemas/ids/{penalty_id}", principal_auth("replay")).ok
