"""The partner feeds against the real broker and registry: who sees what, redacted, once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import pytest
from kafka.errors import KafkaError, ProducerFencedError

from casebus.config import Settings
from casebus.contracts.partner import partner_contract
from casebus.provenance.keys import trust_list
from casebus.security.principals import platform as platform_principal
from connectors.codes import PLATFORM as PLATFORM_LABELS
from connectors.runner import run_connectors_once
from services.feeds.service import FeedService, run_feeds
from services.feeds.view import read_feed
from services.sandbox.data.clock import MAX_TICK
from tests.feeds.helpers import (
    INFORMANT_ID,
    INFORMANT_NAME,
    POLICE_TEXT,
    SELLER_ID,
    agency_lead,
    feed_settings,
    read_all,
    revisions_by_key,
)
from tests.fixtures.kafka import confluent_options
from tests.fixtures.registry import registry_conf
from tests.fixtures.sandbox import SandboxFactory, advance, sandboxed, truth
from tests.sync.faults import Streamer
from tests.sync.helpers import EventProducer

JD, ALIBABA, DOUYIN = "PLATFORM-JD", "PLATFORM-ALIBABA", "PLATFORM-DOUYIN"


def _feed(settings: Settings, code: str) -> dict[str, int]:
    view = read_feed(settings, settings.platform(code))
    return {key: lead["revision"] for key, lead in view.leads.items()}


def _expected_from_sandbox(handle: Any, settings: Settings) -> dict[str, dict[str, int]]:
    """What each platform may see, from the source systems' own records: market supervision
    leads on the platform that the case officer disclosed (平台 or 公开), and the leads the
    platform itself reported."""
    expected: dict[str, dict[str, int]] = {p.code: {} for p in settings.platforms}
    for config in settings.connectors:
        system = config.base_url.rsplit("/", 1)[-1]
        for row in truth(handle, system):
            if row["defect"] is not None or row["kind"] != "lead":
                continue
            key = f"{config.owner}/{row['id']}"
            if config.owner in expected:
                expected[config.owner][key] = row["version"]
            body = row["body"]
            code = PLATFORM_LABELS.get(str(body.get("platform")))
            disclosed = body.get("disclosure") in ("平台", "公开")
            if config.module == "market_supervision" and code and disclosed:
                expected[code][key] = row["version"]
    return expected


@pytest.mark.slow
def test_each_platform_sees_exactly_its_leads_after_a_sandbox_run(
    connector_settings: Settings, sandbox_factory: SandboxFactory, registry_url: str
) -> None:
    handle = sandbox_factory(connector_settings, records_per_system=30)
    settings = sandboxed(connector_settings, handle)
    lead_topic = settings.connectors[0].topics["casebus.lead"]
    settings = feed_settings(settings, source_topic=lead_topic, registry_url=registry_url)
    advance(handle, 0)
    run_connectors_once(settings)
    first = run_feeds(settings, until_idle=True)
    held_before = {code: _feed(settings, code) for code in (JD, ALIBABA, DOUYIN)}
    advance(handle, MAX_TICK)  # every later revision, sharing withdrawn included
    run_connectors_once(settings)
    second = run_feeds(settings, until_idle=True)

    expected = _expected_from_sandbox(handle, settings)
    for code in (JD, ALIBABA, DOUYIN):
        assert _feed(settings, code) == expected[code], code
        assert expected[code], f"the sandbox gives {code} nothing to see"
    retracted = {
        key
        for code in (JD, ALIBABA, DOUYIN)
        for key in read_feed(settings, settings.platform(code)).retracted
        if key in held_before[code]
    }
    assert retracted, "no lead was withdrawn from a platform between the two runs"
    assert second.retracted >= len(retracted)
    assert first.events and second.events
    assert first.dead_lettered == second.dead_lettered == 0


def test_who_sees_what_and_no_byte_of_what_must_not_leave(
    feeds: Settings, leads: EventProducer
) -> None:
    leads.send_all(
        [
            agency_lead("A1", informant=True),  # shared with JD, an informant inside
            agency_lead("A2", handling="H0", shared_with=("510500",), platform=DOUYIN),
            agency_lead("A3", handling="H3", description=POLICE_TEXT),  # police only
            agency_lead("A4", shared_with=("510500",)),  # on JD, but not shared with it
            agency_lead("A5", shared_with=("510500", ALIBABA), platform=JD),  # not about Ali
            agency_lead("A6", handling="H2", shared_with=("510500-PSB", JD)),  # JD named
        ]
    )
    report = run_feeds(feeds, until_idle=True)
    assert report.events == 6
    assert _feed(feeds, JD) == {"510500-SAMR/A1": 1, "510500-SAMR/A6": 1}
    assert _feed(feeds, DOUYIN) == {"510500-SAMR/A2": 1}
    assert _feed(feeds, ALIBABA) == {}

    forbidden = [
        INFORMANT_NAME.encode(),
        INFORMANT_ID.encode(),
        SELLER_ID.encode(),
        POLICE_TEXT.encode(),
        b"510500-PSB",  # the sharing list stays inside
        b"CASE-510500-2025-",  # and so do the agencies' case numbers
    ]
    for platform in feeds.platforms:
        for record in read_all(feeds, feeds.feeds.feed_topic(platform)):
            blob = (record.key or b"") + (record.value or b"")
            blob += b"".join(v for _, v in record.headers or [])
            for needle in forbidden:
                assert needle not in blob, (platform.code, needle.decode())
    shown = read_feed(feeds, feeds.platform(JD)).leads["510500-SAMR/A1"]
    assert "informant" not in shown["lead"] and "seller_id_no" not in shown["lead"]
    assert shown["lead"]["description"].startswith("群众投诉线索A1")


def test_a_lead_that_stops_being_visible_is_retracted(
    feeds: Settings, leads: EventProducer
) -> None:
    leads.send_all(
        [
            agency_lead("R1"),
            agency_lead("R2"),
            agency_lead("R3", handling="H0", shared_with=("510500",)),
            agency_lead("R4"),
        ]
    )
    run_feeds(feeds, until_idle=True)
    assert set(_feed(feeds, JD)) == {f"510500-SAMR/R{i}" for i in range(1, 5)}
    leads.send_all(
        [
            agency_lead("R1", 2, handling="H3"),  # handling raised to police only
            agency_lead("R2", 2, platform=DOUYIN, shared_with=("510500", DOUYIN)),  # moved
            agency_lead("R3", 2, handling="H1", shared_with=("510500",)),  # sharing withdrawn
            agency_lead("R4", 2, status="REVOKED"),  # revoked by its owner
        ]
    )
    report = run_feeds(feeds, until_idle=True)
    assert _feed(feeds, JD) == {}
    assert _feed(feeds, DOUYIN) == {"510500-SAMR/R2": 2}
    assert report.retracted == 4
    jd = revisions_by_key(read_all(feeds, feeds.feeds.feed_topic(feeds.platform(JD))))
    assert jd == {f"510500-SAMR/R{i}": [1, 2] for i in range(1, 5)}  # value, then tombstone
    view = read_feed(feeds, feeds.platform(JD))
    assert set(view.retracted) == set(jd)


def test_stale_and_duplicate_deliveries_produce_nothing(
    feeds: Settings, leads: EventProducer
) -> None:
    leads.send_all([agency_lead("S1", 2), agency_lead("S1", 1), agency_lead("S1", 2)])
    first = run_feeds(feeds, until_idle=True)
    assert first.counts == {"applied": 1, "stale": 1, "duplicate": 1}
    # Across a restart of the service too (its state comes back from the changelog).
    leads.send_all([agency_lead("S1", 1), agency_lead("S1", 2), agency_lead("S1", 3)])
    second = run_feeds(feeds, until_idle=True)
    assert second.counts == {"stale": 1, "duplicate": 1, "applied": 1}
    jd = revisions_by_key(read_all(feeds, feeds.feeds.feed_topic(feeds.platform(JD))))
    assert jd == {"510500-SAMR/S1": [2, 3]}


def test_undecodable_and_invalid_leads_go_to_the_dlq(feeds: Settings, leads: EventProducer) -> None:
    bad = agency_lead("D2")
    bad["lead"]["seller_uscc"] = "91310110666007217X"  # wrong check digit
    leads.send_raw("casebus.lead", b"CASE-X", b"\x01not avro at all", [])
    leads.send_all([bad, agency_lead("D3")])
    report = run_feeds(feeds, until_idle=True)
    assert report.dead_lettered == 2
    assert _feed(feeds, JD) == {"510500-SAMR/D3": 1}
    dead = read_all(feeds, feeds.feeds.dlq_topic)
    classes = sorted(dict(r.headers)["casebus.error.class"].decode() for r in dead)
    assert classes == ["BadMagicByte", "ValidationError"], classes
    messages = [dict(r.headers)["casebus.error.message"].decode() for r in dead]
    assert any("seller_uscc" in m and "check" in m for m in messages), messages


@pytest.mark.offline
def test_partner_schema_is_derived_from_the_marks() -> None:
    contract = partner_contract()
    assert contract.schema["name"] == "PartnerLead"
    assert "lead.informant" not in contract.exported
    assert "lead.seller_id_no" not in contract.exported
    for internal in ("handling", "shared_with", "case_id", "producer"):
        assert internal not in contract.exported
    assert {"lead.items.listing_url", "lead.status", "revision"} <= set(contract.exported)


@pytest.mark.offline
def test_a_new_unmarked_field_is_not_exported(monkeypatch: pytest.MonkeyPatch) -> None:
    """The redaction follows the marks: a field without one stays inside."""
    import casebus.contracts.partner as partner
    from casebus.contracts.schemas import schema_for_topic

    schema = schema_for_topic("casebus.lead")
    lead = next(f for f in schema["fields"] if f["name"] == "lead")["type"]
    lead["fields"].append({"name": "internal_note", "type": "string", "default": ""})
    monkeypatch.setattr(partner, "schema_for_topic", lambda topic: schema)
    partner.partner_contract.cache_clear()
    try:
        derived = partner.partner_contract()
        assert "lead.internal_note" not in derived.exported
        names = [f["name"] for f in derived.schema["fields"][-1]["type"]["fields"]]
        assert "internal_note" not in names
    finally:
        partner.partner_contract.cache_clear()


def test_feed_show_prints_what_a_platform_sees(
    feeds: Settings, leads: EventProducer, kafka_bootstrap: str
) -> None:
    leads.send_all([agency_lead("V1"), agency_lead("V2", 1, handling="H3")])
    run_feeds(feeds, until_idle=True)
    env = {
        "CASEBUS_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CASEBUS_REGISTRY__URL": feeds.registry.url,
        "CASEBUS_FEEDS__TOPIC_PREFIX": feeds.feeds.topic_prefix,
    }
    out = subprocess.run(
        [sys.executable, "-m", "cli", "feed", "show", "jd", "--json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    body = json.loads(out)
    assert body["platform"] == JD and list(body["leads"]) == ["510500-SAMR/V1"]
    table = subprocess.run(
        [sys.executable, "-m", "cli", "feed", "show", "PLATFORM-JD"],
        env={**os.environ, **env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "PLATFORM-JD" in table and "510500-SAMR/V1" in table and "V2" not in table


def _feed_env(feeds: Settings, bootstrap: str) -> dict[str, str]:
    fs = feeds.feeds
    return {
        **os.environ,
        "CASEBUS_KAFKA_BOOTSTRAP": bootstrap,
        "CASEBUS_REGISTRY__URL": feeds.registry.url,
        "CASEBUS_FEEDS__SOURCE_TOPIC": fs.source_topic,
        "CASEBUS_FEEDS__TOPIC_PREFIX": fs.topic_prefix,
        "CASEBUS_FEEDS__STATE_TOPIC": fs.state_topic,
        "CASEBUS_FEEDS__DLQ_TOPIC": fs.dlq_topic,
        "CASEBUS_FEEDS__GROUP_ID": fs.group_id,
        "CASEBUS_FEEDS__TRANSACTIONAL_ID": fs.transactional_id,
        "CASEBUS_FEEDS__BATCH_SIZE": "50",
    }


def _stream(count: int, seed: int) -> list[Any]:
    """Lead events over 150 leads, all on JD and shared with it; revisions climb, with
    duplicates and stale re-deliveries mixed in."""
    rng = random.Random(seed)
    latest = [0] * 150
    out = []
    for _ in range(count):
        i = rng.randrange(150)
        if rng.random() < 0.7 or latest[i] == 0:
            latest[i] += 1
            revision = latest[i]
        else:
            revision = rng.randint(1, latest[i])
        out.append(agency_lead(f"K{i}", revision, case_id=f"CASE-510500-2025-K{i}"))
    return out


def _forwarded(events: list[Any]) -> dict[str, list[int]]:
    """Per lead, the revisions the feed must carry: each one higher than all before it."""
    out: dict[str, list[int]] = {}
    for e in events:
        seen = out.setdefault(f"{e['owner']}/{e['record_id']}", [])
        if not seen or e["revision"] > seen[-1]:
            seen.append(e["revision"])
    return out


@pytest.mark.slow
def test_sigkill_at_random_points_a_read_committed_reader_sees_each_record_once(
    feeds: Settings, leads: EventProducer, kafka_bootstrap: str, tmp_path: Any
) -> None:
    events = _stream(2500, seed=5)
    streamer = Streamer(leads, events, per_second=200)
    streamer.start()
    env = _feed_env(feeds, kafka_bootstrap)
    log = tmp_path / "feeds.log"
    rng = random.Random()
    for _ in range(6):
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "cli", "feed", "run"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            time.sleep(rng.uniform(2.0, 4.0))
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
    streamer.join(timeout=120)
    assert streamer.error is None
    final = subprocess.run(
        [sys.executable, "-m", "cli", "feed", "run", "--until-idle"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert final.returncode == 0, final.stdout[-2000:] + final.stderr[-2000:]
    jd = revisions_by_key(read_all(feeds, feeds.feeds.feed_topic(feeds.platform(JD))))
    assert jd == _forwarded(events)  # every expected record, once, in order
    for other in (ALIBABA, DOUYIN):
        assert read_all(feeds, feeds.feeds.feed_topic(feeds.platform(other))) == []
    assert "restored feed state" in log.read_text()


def partner_verify(topic: str, msg: Any, public_key_b64: str) -> None:
    """The README's partner quickstart check; raises InvalidSignature."""
    import base64
    import hashlib
    import struct

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    feeds_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))

    def field(b: bytes | None) -> bytes:  # int32 length (-1: null), then the bytes
        return struct.pack(">i", -1) if b is None else struct.pack(">i", len(b)) + b

    def sha256(b: bytes) -> bytes:
        return hashlib.sha256(b).digest()

    def root(h: bytes, path: bytes) -> bytes:  # up the batch's tree (index, size, siblings)
        i, n = struct.unpack_from(">HH", path)
        siblings = [path[o : o + 32] for o in range(4, len(path), 32)]
        while n > 1:
            if i ^ 1 < n:
                s = siblings.pop(0)
                h = sha256(b"\x01" + (s + h if i & 1 else h + s))
            i, n = i // 2, (n + 1) // 2
        assert not siblings
        return h

    *signed, (_, path), (name, signature) = msg.headers()
    assert name == "casebus.signature"
    data = b"casebus.event.v1" + field(topic.encode()) + field(msg.key()) + field(msg.value())
    data += struct.pack(">i", len(signed)) + b"".join(
        field(n.encode()) + field(v) for n, v in signed
    )
    feeds_key.verify(signature, b"casebus.batch.v1" + root(sha256(b"\x00" + data), path))


def test_a_stock_confluent_deserializer_reads_the_feed(
    feeds: Settings, leads: EventProducer, kafka_bootstrap: str
) -> None:
    ck = pytest.importorskip("confluent_kafka")
    sr = pytest.importorskip("confluent_kafka.schema_registry")
    sr_avro = pytest.importorskip("confluent_kafka.schema_registry.avro")
    serialization = pytest.importorskip("confluent_kafka.serialization")

    leads.send_all([agency_lead("C1"), agency_lead("C2", handling="H0")])
    run_feeds(feeds, until_idle=True)
    topic = feeds.feeds.feed_topic(feeds.platform(JD))
    client = sr.SchemaRegistryClient(registry_conf(feeds.registry.url, platform_principal("jd")))
    assert client.get_latest_version(f"{topic}-value").schema.schema_str.find("PartnerLead") > 0
    decode = sr_avro.AvroDeserializer(client)
    consumer = ck.Consumer(
        {
            # As JD itself: its principal, its feed, a group under its own prefix.
            **confluent_options(kafka_bootstrap, platform_principal("jd")),
            "group.id": f"casebus.feed.jd.test-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    got: dict[str, Any] = {}
    try:
        for _ in range(60):
            message = consumer.poll(1.0)
            if message is None or message.error() is not None:
                if len(got) == 2:
                    break
                continue
            ctx = serialization.SerializationContext(topic, serialization.MessageField.VALUE)
            got[message.key().decode()] = decode(message.value(), ctx)
            # The README's check, as a partner writes it: the feeds service's public key
            # from the trust list, no casebus code.
            key_id = dict(message.headers())["casebus.key-id"].decode()
            feeds_key = next(k for k in trust_list(feeds) if k.key_id == key_id)
            assert feeds_key.owner == "casebus-feeds"
            partner_verify(topic, message, feeds_key.public_key)
    finally:
        consumer.close()
    assert set(got) == {"510500-SAMR/C1", "510500-SAMR/C2"}
    assert got["510500-SAMR/C1"]["lead"]["items"][0]["listing_url"].startswith("https://item.jd")
    assert "informant" not in got["510500-SAMR/C1"]["lead"]


def test_a_producer_in_a_fatal_state_is_replaced_and_nothing_is_lost(
    feeds: Settings, leads: EventProducer
) -> None:
    # kafka-python puts a transactional producer in a fatal state on some lost requests
    # (seen under node kills); from then on every call fails, abort included.
    service = FeedService(feeds)
    try:
        leads.send_all([agency_lead("F1"), agency_lead("F2")])
        manager = service.producer._transaction_manager  # type: ignore[attr-defined]
        manager.transition_to_fatal_error(KafkaError("a transactional request was lost"))
        report = service.run(threading.Event(), until_idle=True)
    finally:
        service.close()
    assert report.producers_replaced == 1 and report.aborted == 1
    jd = revisions_by_key(read_all(feeds, feeds.feeds.feed_topic(feeds.platform(JD))))
    assert jd == {"510500-SAMR/F1": [1], "510500-SAMR/F2": [1]}


def test_a_fenced_instance_stops_instead_of_fencing_back(
    feeds: Settings, leads: EventProducer
) -> None:
    service = FeedService(feeds)
    try:
        successor = FeedService(feeds)  # same transactional id: fences the first
        successor.close()
        leads.send_all([agency_lead("G1")])
        with pytest.raises(ProducerFencedError):
            service.run(threading.Event(), until_idle=True)
    finally:
        service.close()
    assert service.report.producers_replaced == 0


def test_a_client_that_stops_fetching_is_replaced_and_nothing_is_lost(
    feeds: Settings, leads: EventProducer, caplog: pytest.LogCaptureFixture
) -> None:
    """A Kafka client holding partitions with unread leads that fetches nothing (as
    kafka-python can under node kills: CI once saw the feeds stop at the first kill) is
    replaced, and the new one reads on from the committed offsets; an idle one is not. The
    wedge is made by pausing the client's partitions behind the service's back."""
    quick = feeds.feeds.model_copy(update={"stuck_after_seconds": 2})
    service = FeedService(feeds.model_copy(update={"feeds": quick}))
    stop = threading.Event()
    try:
        leads.send_all([agency_lead("W1")])
        service.run(stop, until_idle=True)
        idle = threading.Timer(5, stop.set)  # read to the end, nothing new: not replaced
        idle.start()
        service.run(stop)
        assert service.report.consumers_replaced == 0
        stop.clear()
        wedged = service.consumer
        wedged.pause(*wedged.assignment())
        leads.send_all([agency_lead("W2"), agency_lead("W3")])
        bound = threading.Timer(60, stop.set)  # a failure ends the run instead of hanging
        bound.start()
        report = service.run(stop, limit=3)
        bound.cancel()
    finally:
        service.close()
    assert report.consumers_replaced == 1 and service.consumer is not wedged, caplog.text[-2000:]
    assert "stalled: holding" in caplog.text and "nothing fetched for 2s" in caplog.text
    jd = revisions_by_key(read_all(feeds, feeds.feeds.feed_topic(feeds.platform(JD))))
    assert jd == {f"510500-SAMR/{k}": [1] for k in ("W1", "W2", "W3")}
