"""Real broker: untrusted events are refused by sync, replay and feeds, each with its reason,
and never applied or forwarded; valid events of every owner go through as before."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from casebus.config import Settings
from casebus.provenance.keys import trust_list
from casebus.provenance.signing import Refusal, Verifier
from casebus.revisions import Outcome
from services.feeds.service import run_feeds
from services.replay.service import ReplayRequest, replay
from services.sync.service import sync_until_idle
from tests.feeds.helpers import agency_lead, read_all
from tests.provenance.forgeries import Keys, send_forgeries
from tests.sync.helpers import (
    EventProducer,
    SyncTopics,
    event_log,
    lead,
    penalty,
    read_topic,
    records,
    sync_settings,
)

AGENCY = "500110-SAMR"
LUZHOU = "510500-SAMR"


def _dead_letters(bootstrap: str, topic: str, expected: int) -> Counter[str]:
    dead = read_topic(bootstrap, topic, expected=expected)
    return Counter(dict(r.headers)["casebus.error.class"].decode() for r in dead)


def test_sync_and_replay_refuse_every_untrusted_event(
    settings: Settings,
    registry_url: str,
    sync_topics: SyncTopics,
    producer: EventProducer,
    db_url: str,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    keys = Keys.of(LUZHOU)
    s = keys.trusting(
        sync_settings(settings, registry_url=registry_url, db_url=db_url, topics=sync_topics)
    )
    valid = [
        penalty("P-luzhou"),  # 510500-SAMR, shared with region 500110
        penalty("P-own", owner=AGENCY, region="500110", case_id="CASE-500110-2025-0001"),
        lead("L-1"),
    ]
    producer.send_all(valid)
    expected = send_forgeries(
        producer,
        "casebus.penalty",
        lambda rid: penalty(rid),
        owner=LUZHOU,
        impersonated=lambda rid: penalty(rid, owner=AGENCY, region="500110"),
        keys=keys,
    )
    report = sync_until_idle(s, AGENCY)
    assert dict(report.counts) == {"applied": 3, "rejected": len(expected)}
    assert {k[2] for k in records(db_url)} == {"P-luzhou", "P-own", "L-1"}
    # Each refused record in the DLQ with its bytes and reason, and in the event log.
    assert _dead_letters(kafka_bootstrap, sync_topics.dlq, len(expected)) == Counter(
        expected.values()
    )
    rejected = [e for e in event_log(db_url) if e.outcome == "rejected"]
    reasons = Counter((e.detail or "").split(":", 1)[0] for e in rejected)
    assert reasons == Counter(expected.values())
    named = {e.record_id: (e.detail or "").split(":", 1)[0] for e in rejected if e.record_id}
    assert named == {"F-forged": "WrongSigner", "F-expired": "KeyNotValid"}

    # With batches small enough to be full, the sync hands them to its decode worker and
    # checks the signatures in its own process: the same records refused, the same reasons.
    ahead_url = f"sqlite:///{tmp_path}/ahead.sqlite"
    ahead = s.model_copy(
        update={
            "sync": s.sync.model_copy(
                update={
                    "db_url": ahead_url,
                    "group_id": f"{s.sync.group_id}.ahead",
                    "batch_size": 2,
                }
            )
        }
    )
    report = sync_until_idle(ahead, AGENCY)
    assert "wait for worker" in report.stages and "verify" in report.stages
    assert dict(report.counts) == {"applied": 3, "rejected": len(expected)}
    assert records(ahead_url) == records(db_url)
    refused = [e for e in event_log(ahead_url) if e.outcome == "rejected"]
    where = sorted((e.partition, e.offset, e.detail) for e in refused)
    assert where == sorted((e.partition, e.offset, e.detail) for e in rejected)

    # Replay decodes through the same check: a rebuild refuses the same records.
    rebuilt = s.model_copy(
        update={"sync": s.sync.model_copy(update={"db_url": f"sqlite:///{tmp_path}/r.sqlite"})}
    )
    result = replay(rebuilt, ReplayRequest(AGENCY, fresh=True))
    assert result.report.count(Outcome.APPLIED) == 3
    assert result.report.count(Outcome.REJECTED) == len(expected)
    assert records(rebuilt.sync.db_url) == records(db_url)
    again = [e for e in event_log(rebuilt.sync.db_url) if e.outcome == "rejected"]
    assert Counter((e.detail or "").split(":", 1)[0] for e in again) == Counter(expected.values())


def test_feeds_refuse_untrusted_leads_and_sign_what_they_forward(
    feeds: Settings, leads: EventProducer, kafka_bootstrap: str
) -> None:
    keys = Keys.of(LUZHOU)
    s = keys.trusting(feeds)
    leads.send_all([agency_lead("OK-1")])
    expected = send_forgeries(
        leads,
        "casebus.lead",
        agency_lead,
        owner=LUZHOU,
        impersonated=agency_lead,  # in 510500-SAMR's name, signed by 510500-PSB's key
        keys=keys,
    )
    report = run_feeds(s, until_idle=True)
    assert report.dead_lettered == len(expected)
    dead = read_all(s, s.feeds.dlq_topic)
    assert Counter(dict(r.headers)["casebus.error.class"].decode() for r in dead) == Counter(
        expected.values()
    )
    jd_topic = s.feeds.feed_topic(s.platform("PLATFORM-JD"))
    forwarded = read_all(s, jd_topic)
    assert [r.key for r in forwarded] == [b"510500-SAMR/OK-1"]
    # A platform checks its feed against the feeds service's key in the trust list.
    verifier = Verifier(trust_list(s))
    (record,) = forwarded
    signer = verifier.check_record(jd_topic, record.key, record.value, record.headers)
    assert not isinstance(signer, Refusal), signer
    assert signer.owner == s.provenance.feeds_owner
    tampered = record.value[:-1] + bytes([record.value[-1] ^ 1])
    refused = verifier.check_record(jd_topic, record.key, tampered, record.headers)
    assert isinstance(refused, Refusal) and refused.reason == "BadSignature"
