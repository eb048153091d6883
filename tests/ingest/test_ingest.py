"""The ingest endpoint against the real broker: auth, owner, per-field errors, 202 only
after commit, 503 and nothing visible when Kafka is down, concurrent requests committed
together (group commit) and failing together."""

from __future__ import annotations

import copy
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from casebus.config import Settings
from casebus.kafka.broker import LocalKafka
from services.ingest.app import _example, create_app
from tests.fixtures.kafka import TopicFactory, admin_client, create_topic
from tests.fixtures.sandbox import read_events, read_topic

TOKEN = "luzhou-samr-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASEBUS_INGEST_TOKEN_510500_SAMR", TOKEN)
    monkeypatch.setenv("CASEBUS_INGEST_TOKEN_500110_SAMR", "qijiang-token")


def event(n: int = 1, **changes: Any) -> dict[str, Any]:
    e = copy.deepcopy(_example())
    e["record_id"] = e["penalty"]["decision_no"] = f"泸市监处罚〔2025〕{n}号"
    e.update(changes)
    return e


def _client(
    settings: Settings, registry_url: str, topics: dict[str, str], **ingest_settings: Any
) -> TestClient:
    registry = settings.registry.model_copy(update={"url": registry_url})
    ingest = {**settings.ingest, "kafka_timeout_seconds": 4, **ingest_settings}
    s = settings.model_copy(update={"registry": registry, "ingest": ingest})
    return TestClient(create_app(s, topics=topics, transactional_id=f"casebus-ingest-test-{id(s)}"))


def test_accepts_after_commit_and_checks_everything(
    settings: Settings, registry_url: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory("penalty", partitions=2)
    with _client(settings, registry_url, {"casebus.penalty": topic}) as client:
        _accepts_after_commit_and_checks_everything(client, settings, registry_url, topic)


def _accepts_after_commit_and_checks_everything(
    client: TestClient, settings: Settings, registry_url: str, topic: str
) -> None:
    assert (
        client.post("/v1/events", json=event(), headers={"Authorization": "Bearer x"}).status_code
        == 401
    )
    foreign = client.post("/v1/events", json={"events": [event(owner="500110-SAMR")]}, headers=AUTH)
    assert foreign.status_code == 403
    assert foreign.json()["errors"][0]["field"] == "owner"

    bad = event(2)
    bad["penalty"]["party_uscc"] = "91310110666007217A"  # wrong check digit
    bad["penalty"]["fine_amount"] = "-5"
    del bad["penalty"]["party_name"]
    unparsable = event(3, occurred_at="2025-03-14T02:30:00")  # no offset
    response = client.post("/v1/events", json={"events": [event(1), bad, unparsable]}, headers=AUTH)
    assert response.status_code == 422
    errors = {(e["index"], e["field"], e["rule"]) for e in response.json()["errors"]}
    assert {(1, "penalty.party_name", "required"), (2, "occurred_at", "timezone")} <= errors
    invalid = client.post(
        "/v1/events",
        json={
            "events": [
                event(1),
                event(4, revision=1)
                | {
                    "penalty": {
                        **event(4)["penalty"],
                        "fine_amount": "-5",
                        "party_uscc": "91310110666007217A",
                    }
                },
            ]
        },
        headers=AUTH,
    )
    assert invalid.status_code == 422
    rules = {(e["index"], e["field"], e["rule"]) for e in invalid.json()["errors"]}
    assert {
        (1, "penalty.fine_amount", "decimal.negative"),
        (1, "penalty.party_uscc", "uscc.check_digit"),
    } <= rules
    assert (
        read_events(
            settings.model_copy(
                update={"registry": settings.registry.model_copy(update={"url": registry_url})}
            ),
            topic,
        )
        == []
    )

    ok = client.post("/v1/events", json={"events": [event(1), event(5)]}, headers=AUTH)
    assert ok.status_code == 202, ok.text
    single = client.post("/v1/events", json=event(6), headers=AUTH)
    assert single.status_code == 202
    ids = ok.json()["event_ids"] + single.json()["event_ids"]
    reg = settings.registry.model_copy(update={"url": registry_url})
    got = read_events(settings.model_copy(update={"registry": reg}), topic)
    assert sorted(str(e["event_id"]) for e in got) == sorted(ids)
    assert "/v1/events" in client.get("/openapi.json").json()["paths"]


def test_broker_down_is_503_and_nothing_half_written(
    settings: Settings, registry_url: str, private_broker: LocalKafka
) -> None:
    private = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"bootstrap": private_broker.bootstrap})}
    )
    admin = admin_client(private_broker.bootstrap)
    create_topic(
        admin, private_broker.bootstrap, "penalty.ingest", stands_for="penalty", partitions=2
    )
    admin.close()
    with _client(private, registry_url, {"casebus.penalty": "penalty.ingest"}) as client:
        first = client.post("/v1/events", json={"events": [event(1)]}, headers=AUTH)
        assert first.status_code == 202, first.text

        private_broker.stop()
        events = {"events": [event(7), event(8), event(9)]}
        down = client.post("/v1/events", json=events, headers=AUTH)
        assert down.status_code == 503
        private_broker.start()

        reg = private.registry.model_copy(update={"url": registry_url})
        got = read_events(private.model_copy(update={"registry": reg}), "penalty.ingest")
        assert [str(e["event_id"]) for e in got] == first.json()["event_ids"]
        # And the endpoint recovers once Kafka is back.
        again = client.post("/v1/events", json={"events": [event(7)]}, headers=AUTH)
        assert again.status_code == 202, again.text


def test_personal_fields_are_checked_in_clear_and_published_sealed(
    settings: Settings, registry_url: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory("penalty", partitions=1)
    with _client(settings, registry_url, {"casebus.penalty": topic}) as client:
        person = event(7)
        person["penalty"].update(
            party_name="王小明",
            party_category="NATURAL_PERSON",
            party_uscc=None,
            legal_rep_name=None,
            person_id_type="身份证",
            person_id_no="510502198001011235",
        )
        wrong = copy.deepcopy(person)
        wrong["record_id"] = wrong["penalty"]["decision_no"] = "泸市监处罚〔2025〕8号"
        wrong["penalty"]["person_id_no"] = "510502198001011230"
        refused = client.post("/v1/events", json=wrong, headers=AUTH)
        assert refused.status_code == 422
        (error,) = refused.json()["errors"]
        assert (error["field"], error["rule"], error["value"]) == (
            "penalty.person_id_no",
            "id_no.check_digit",
            "510502********1230",
        )
        assert client.post("/v1/events", json=person, headers=AUTH).status_code == 202
        reg = settings.registry.model_copy(update={"url": registry_url})
        (got,) = read_events(settings.model_copy(update={"registry": reg}), topic)
        assert got["penalty"]["person_id_no"].startswith("casebus-fle1:")
        assert got["penalty"]["person_id_type"].startswith("casebus-fle1:")
        assert got["penalty"]["party_name"] == "王小明"  # published by double publicity: clear


def _all_at_once(client: TestClient, bodies: list[Any]) -> list[Any]:
    """POST every body from its own thread, all released together."""
    start = threading.Barrier(len(bodies))

    def post(body: Any) -> Any:
        start.wait()
        return client.post("/v1/events", json=body, headers=AUTH)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, bodies))


def test_concurrent_requests_share_transactions_each_event_once(
    settings: Settings, registry_url: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory("penalty", partitions=2)
    # A linger, so that the requests meet in few transactions however the threads run; two
    # committers (the default), so two transactions may be in flight at once.
    app = _client(settings, registry_url, {"casebus.penalty": topic}, group_linger_ms=50)
    bodies: list[Any] = [event(100 + n) for n in range(30)]
    bodies += [{"events": [event(200 + 2 * n), event(201 + 2 * n)]} for n in range(10)]
    with app as client:  # one event loop serves every request, as uvicorn's does
        answers = _all_at_once(client, bodies)
        publisher = client.app.state.publisher  # type: ignore[attr-defined]
        assert [a.status_code for a in answers] == [202] * len(bodies), answers[0].text
        assert 1 <= publisher.transactions < len(bodies)
    ids = [i for a in answers for i in a.json()["event_ids"]]
    assert len(ids) == len(set(ids)) == 50
    reg = settings.registry.model_copy(update={"url": registry_url})
    got = read_events(settings.model_copy(update={"registry": reg}), topic)  # read_committed
    assert sorted(str(e["event_id"]) for e in got) == sorted(ids)  # each exactly once


def test_a_failed_commit_fails_every_request_in_it(
    settings: Settings, registry_url: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory("penalty", partitions=2)
    app = _client(
        settings,
        registry_url,
        {"casebus.penalty": topic},
        group_linger_ms=500,
        group_committers=1,  # the one producer whose commit is made to fail
    )
    with app as client:
        first = client.post("/v1/events", json=event(1), headers=AUTH)
        assert first.status_code == 202, first.text
        publisher = client.app.state.publisher  # type: ignore[attr-defined]
        producer = publisher._producer
        committed = publisher.transactions
        calls: list[int] = []

        def refuse() -> None:  # the broker's answer never comes: nothing is committed
            calls.append(1)
            raise RuntimeError("coordinator unavailable")

        producer.commit_transaction = refuse
        answers = _all_at_once(client, [event(10 + n) for n in range(6)])
        assert [a.status_code for a in answers] == [503] * 6
        assert {a.headers["Retry-After"] for a in answers} == {"5"}
        assert publisher.transactions == committed  # one transaction, failed for all six
        assert len(calls) == 1
        assert publisher._producer is None  # given up; the next transaction gets a new one
        again = client.post("/v1/events", json=event(20), headers=AUTH)  # a new producer
        assert again.status_code == 202, again.text
    reg = settings.registry.model_copy(update={"url": registry_url})
    got = read_events(settings.model_copy(update={"registry": reg}), topic)
    expected = first.json()["event_ids"] + again.json()["event_ids"]
    assert sorted(str(e["event_id"]) for e in got) == sorted(expected)


def test_a_transaction_signs_each_callers_requests_together_and_a_signer_fails_alone(
    settings: Settings,
    registry_url: str,
    topic_factory: TopicFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Luzhou's six requests and Qijiang's two meet in one transaction: Luzhou's records share
    one signature; Qijiang's key is missing here, so its two requests get 503 and nothing of
    theirs is written, while Luzhou's are committed."""
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "510500-SAMR.pem").write_bytes((settings.keys_dir / "510500-SAMR.pem").read_bytes())
    monkeypatch.delenv("CASEBUS_SIGNING_KEY_500110_SAMR", raising=False)
    provenance = settings.provenance.model_copy(update={"keys_dir": str(keys)})
    only_luzhou = settings.model_copy(update={"provenance": provenance})
    topic = topic_factory("penalty", partitions=2)
    app = _client(
        only_luzhou,
        registry_url,
        {"casebus.penalty": topic},
        group_linger_ms=500,
        group_committers=1,
    )
    qijiang = {"Authorization": "Bearer qijiang-token"}
    bodies = [(event(300 + n), AUTH) for n in range(6)]
    bodies += [(event(400 + n, owner="500110-SAMR", region="500110"), qijiang) for n in range(2)]
    start = threading.Barrier(len(bodies))

    def post(body: tuple[dict[str, Any], dict[str, str]]) -> Any:
        start.wait()
        return client.post("/v1/events", json=body[0], headers=body[1])

    with app as client, ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(post, bodies))
        publisher = client.app.state.publisher  # type: ignore[attr-defined]
        transactions = publisher.transactions
    assert [a.status_code for a in answers] == [202] * 6 + [503] * 2, answers[-1].text
    assert "signing as 500110-SAMR" in answers[-1].json()["detail"]
    reg = settings.registry.model_copy(update={"url": registry_url})
    records = read_topic(settings.model_copy(update={"registry": reg}), topic)
    ids = sorted(i for a in answers[:6] for i in a.json()["event_ids"])
    assert sorted(dict(r.headers)["event_id"].decode() for r in records) == ids
    signatures = {dict(r.headers)["casebus.signature"] for r in records}
    assert len(signatures) <= transactions < 6  # one signature per transaction, not per request
