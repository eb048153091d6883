"""Real broker: `casebus dlq show` and `casebus dlq redrive` on a sync's DLQ.

Events signed by a key nobody trusts yet are refused as UnknownKey; once the key is in the
trust list a redrive applies them exactly once, marks them in the event log with their DLQ
position, leaves an event that is still bad in the DLQ with its new reason, and a second
redrive sends nothing again. Only the admin may read or redrive a DLQ."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from agencydb.engine import make_engine
from casebus.config import Settings
from casebus.events import Event, event_key
from casebus.provenance.signing import Signer
from casebus.publish import event_headers
from casebus.security import principals as p
from casebus.serde import SerializationContext
from cli import main
from pipeline.deadletters import DlqAccessDenied, read_dlq
from services.audit.verify import verify
from services.dlq.filters import Filter
from services.dlq.redrive import RedriveNotSupported, RedriveRequest, redrive
from services.dlq.show import show, to_dict
from services.dlq.target import resolve
from services.sync.service import sync_until_idle
from tests.provenance.helpers import new_key
from tests.sync.helpers import (
    EventProducer,
    SyncTopics,
    event_log,
    penalty,
    records,
    sync_settings,
)

AGENCY = "500110-SAMR"  # syncs Luzhou's penalties shared with its region
LUZHOU = "510500-SAMR"
FAST = 1000.0  # events/s: the rate is not what these tests time


def _send_signed(
    producer: EventProducer, event: Event, signer: Signer, *, flip: bool = False
) -> None:
    shared = "casebus.penalty"
    value = producer.serializers[shared](event, SerializationContext(producer.topics[shared]))
    key = event_key(event)
    headers = signer.sign(shared, key, value, event_headers(event))
    if flip:  # one byte changed after signing: refused as BadSignature, whoever trusts what
        value = value[:-1] + bytes([value[-1] ^ 1])
    producer.send_raw(shared, key, value, headers, signed_by=None)


def _trusting(settings: Settings, trusted: object) -> Settings:
    extra = (*settings.provenance.trusted, trusted)
    return settings.model_copy(
        update={"provenance": settings.provenance.model_copy(update={"trusted": extra})}
    )


def _redriven_rows(db_url: str) -> list[tuple[str, str | None, int | None, str | None]]:
    return [
        (e.outcome, e.record_id, e.dlq_offset, e.dlq_topic)
        for e in event_log(db_url)
        if e.origin == "redrive"
    ]


def test_redrive_applies_unknown_key_events_once_trusted_and_only_once(
    settings: Settings,
    registry_url: str,
    sync_topics: SyncTopics,
    producer: EventProducer,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = sync_settings(settings, registry_url=registry_url, db_url=db_url, topics=sync_topics)
    now = datetime.now(UTC)
    unknown, entry = new_key(LUZHOU, datetime(2020, 1, 1, tzinfo=UTC), now + timedelta(days=365))
    trusted_signer = producer.signers(LUZHOU)
    invalid = penalty("P-3")
    invalid["penalty"]["party_uscc"] = "91310110666007217K"  # wrong check digit
    producer.send_all([penalty("P-0")])  # trusted: applied by the sync
    _send_signed(producer, penalty("P-1"), unknown)
    _send_signed(producer, penalty("P-2"), unknown)
    _send_signed(producer, invalid, unknown)  # UnknownKey now, ValidationError once trusted
    _send_signed(producer, penalty("P-4"), trusted_signer, flip=True)  # BadSignature
    producer.flush()

    report = sync_until_idle(s, AGENCY)
    assert dict(report.counts) == {"applied": 1, "rejected": 4}
    assert set(k[2] for k in records(db_url)) == {"P-0"}
    target = resolve(s, AGENCY)
    assert target.topic == sync_topics.dlq

    # -- dlq show, as the CLI prints it (text and JSON), with its filters --------------------
    monkeypatch.setattr("cli.dlq.load_settings", lambda: s)
    assert main(["dlq", "show", AGENCY]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0] == f"{sync_topics.dlq} ({AGENCY}'s sync): 4 of 4 records"
    assert text[-1] == "by reason: BadSignature 1, UnknownKey 3"
    assert sum("not redriven" in line for line in text) == 4
    assert main(["dlq", "show", AGENCY, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["reasons"] == {"BadSignature": 1, "UnknownKey": 3}
    penalties = sync_topics.actual["casebus.penalty"]
    assert [(r["topic"], r["reason"], r["redriven"]) for r in shown["records"]] == [
        (penalties, "UnknownKey", False),
        (penalties, "UnknownKey", False),
        (penalties, "UnknownKey", False),
        (penalties, "BadSignature", False),
    ]
    first = shown["records"][0]
    assert first["key"] == penalty("P-1")["case_id"]
    assert first["value_head"].startswith("00") and len(first["value_head"]) == 64
    assert first["detail"] and first["consumer"] == s.sync.group_for(AGENCY)
    assert main(["dlq", "show", sync_topics.dlq, "--reason", "BadSignature", "--json"]) == 0
    only = json.loads(capsys.readouterr().out)
    assert (only["shown"], only["total"], only["reasons"]) == (1, 4, {"BadSignature": 1})
    assert main(["dlq", "show", AGENCY, "--since", "1h", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["shown"] == 4
    future = (now + timedelta(hours=1)).isoformat()
    assert main(["dlq", "show", AGENCY, "--since", future, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["shown"] == 0
    assert main(["dlq", "show", "nobody"]) == 2
    assert "one of 510500-SAMR" in capsys.readouterr().err

    # -- the key is trusted now; a dry run changes nothing ---------------------------------
    t = _trusting(s, entry)
    monkeypatch.setattr("cli.dlq.load_settings", lambda: t)
    log_before = len(event_log(db_url))
    dry = redrive(t, RedriveRequest(target, dry_run=True, rate=FAST))
    assert dict(dry.report.counts) == {"applied": 2, "rejected": 2}
    assert sorted(f.error_class for f in dry.failed) == ["BadSignature", "ValidationError"]
    assert (len(event_log(db_url)), set(k[2] for k in records(db_url))) == (log_before, {"P-0"})
    assert len(read_dlq(t, sync_topics.dlq, principal=p.admin(t)).entries) == 4

    # -- the redrive of the UnknownKey records ---------------------------------------------
    assert main(["dlq", "redrive", AGENCY, "--reason", "UnknownKey", "--rate", "1000"]) == 1
    out = capsys.readouterr().out
    assert "4 DLQ records read (to offsets 0:4), 3 taken, 0 redriven before, 3 sent" in out
    assert "outcomes: applied 2, rejected 1" in out
    assert "1 still failing, left in the DLQ as new records:" in out
    assert "(DLQ 0@2, was UnknownKey): ValidationError: " in out and "check digit" in out
    assert set(k[2] for k in records(db_url)) == {"P-0", "P-1", "P-2"}
    assert _redriven_rows(db_url) == [
        ("applied", "P-1", 0, sync_topics.dlq),
        ("applied", "P-2", 1, sync_topics.dlq),
        ("rejected", "P-3", 2, sync_topics.dlq),
    ]
    dead = read_dlq(t, sync_topics.dlq, principal=p.admin(t)).entries
    assert len(dead) == 5
    again = dead[4]  # the invalid event, with its new reason, naming the record it came from
    assert (again.error_class, again.redrive_of) == ("ValidationError", f"{sync_topics.dlq}:0:2")
    assert (again.topic, again.partition, again.offset) == (
        dead[2].topic,
        dead[2].partition,
        dead[2].offset,
    )
    assert again.value == dead[2].value and again.headers == dead[2].headers

    # -- a second redrive of them sends nothing -------------------------------------------
    second = redrive(t, RedriveRequest(target, Filter(reason="UnknownKey"), rate=FAST))
    assert (second.matched, second.already, len(second.sent)) == (3, 3, 0)
    assert second.report.events == 0 and not second.failed
    assert len(read_dlq(t, sync_topics.dlq, principal=p.admin(t)).entries) == 5

    # -- everything not redriven yet: only to the end offsets taken at its start -----------
    rest = redrive(t, RedriveRequest(target, rate=FAST))
    assert rest.ends == {0: 5}
    assert [(e.dlq_offset, e.error_class) for e in rest.sent] == [
        (2 + 2, "ValidationError"),  # sent again: a new DLQ record, it may pass by now
        (3, "BadSignature"),
    ]
    assert sorted(f.error_class for f in rest.failed) == ["BadSignature", "ValidationError"]
    assert dict(rest.report.counts) == {"rejected": 2}
    assert set(k[2] for k in records(db_url)) == {"P-0", "P-1", "P-2"}
    applied = Counter(e.record_id for e in event_log(db_url) if e.outcome == "applied")
    assert applied == {"P-0": 1, "P-1": 1, "P-2": 1}  # each applied exactly once

    # -- show marks what was redriven; the chain with DLQ positions verifies ----------------
    view = to_dict(show(t, target, Filter()))
    assert [r["redriven"] for r in view["records"]] == [True] * 5 + [False, False]
    engine = make_engine(db_url)
    try:
        audit = verify(t, AGENCY, engine)
    finally:
        engine.dispose()
    assert audit.ok, audit.problems


def test_only_the_admin_reads_or_redrives_a_dlq(
    settings: Settings,
    registry_url: str,
    sync_topics: SyncTopics,
    producer: EventProducer,
    sqlite_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = sync_settings(settings, registry_url=registry_url, db_url=sqlite_url, topics=sync_topics)
    producer.send_raw("casebus.penalty", b"k", b"not avro", [], signed_by=LUZHOU)
    producer.flush()
    assert dict(sync_until_idle(s, AGENCY).counts) == {"rejected": 1}
    target = resolve(s, AGENCY)
    for principal in (p.sync(AGENCY), p.platform("jd"), p.REPLAY):
        with pytest.raises(DlqAccessDenied) as caught:
            redrive(s, RedriveRequest(target, principal=principal, rate=FAST))
        assert f"principal {principal} may not read {sync_topics.dlq}" in str(caught.value)
        assert "TopicAuthorizationFailed" in str(caught.value)
    monkeypatch.setattr("cli.dlq.load_settings", lambda: s)
    assert main(["dlq", "redrive", AGENCY, "--principal", p.sync(AGENCY)]) == 2
    err = capsys.readouterr().err
    refusal = f"casebus dlq: principal sync.{AGENCY} may not read {sync_topics.dlq}"
    assert any(line.startswith(refusal) for line in err.splitlines()), err
    assert "the admin principal's privilege" in err
    assert main(["dlq", "show", AGENCY, "--principal", p.platform("jd")]) == 2
    assert "principal platform.jd may not read" in capsys.readouterr().err
    assert [e.outcome for e in event_log(sqlite_url)] == ["rejected"]  # nothing redriven
    # The admin may: the record is still bad, and goes back with its reason.
    (refused,) = read_dlq(s, sync_topics.dlq, principal=p.admin(s)).entries
    result = redrive(s, RedriveRequest(target, rate=FAST))
    assert [(f.error_class, f.entry.dlq_offset) for f in result.failed] == [
        (refused.error_class, 0)
    ]
    assert [e.outcome for e in event_log(sqlite_url)] == ["rejected", "rejected"]


def test_the_feeds_dlq_is_shown_but_not_redriven(settings: Settings) -> None:
    target = resolve(settings, "feeds")
    assert show(settings, target, Filter()).target.topic == settings.feeds.dlq_topic
    # Refused even where there is nothing to read (its offsets need only describe).
    with pytest.raises(DlqAccessDenied, match=r"principal replay may not read casebus\.dlq\.feeds"):
        show(settings, target, Filter(), principal=p.REPLAY)
    with pytest.raises(RedriveNotSupported, match=r"can be shown .* but not redriven yet"):
        redrive(settings, RedriveRequest(target))
