"""On the real broker: a sealed value altered on the way fails its signature and is
refused; a value sealed under a key this deployment does not know is applied, marked
unreadable, not dead-lettered."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from agencydb.engine import make_engine
from agencydb.models import EventLogEntry, PenaltyDecision
from casebus.config import Settings
from casebus.events import event_key, stable_event_id
from casebus.personal import envelope
from casebus.personal.cipher import Sealer
from casebus.personal.keystore import KeyStore
from casebus.publish import event_headers
from casebus.serde import SerializationContext
from services.sync.service import sync_until_idle
from tests.personal.test_keys_and_databases import PERSON, natural_person_penalty
from tests.sync.helpers import EventProducer, SyncTopics, sync_settings

AGENCY = "510500-SAMR"


def _penalty(record_id: str) -> dict[str, object]:
    event = natural_person_penalty()
    event["record_id"] = record_id
    event["event_id"] = stable_event_id(AGENCY, record_id, 1, event["event_type"])
    return event


def test_altered_ciphertext_is_refused_and_an_unknown_key_is_unreadable(
    settings: Settings,
    registry_url: str,
    sync_topics: SyncTopics,
    producer: EventProducer,
    tmp_path: Path,
) -> None:
    sealer = Sealer(KeyStore.of(settings, create=True))
    elsewhere = settings.personal.model_copy(
        update={"key_store": str(tmp_path / "other.sqlite"), "kek_dir": str(tmp_path / "kek")}
    )
    stranger = Sealer(KeyStore.of(settings.model_copy(update={"personal": elsewhere}), create=True))

    good = sealer.seal(_penalty("P-good"), "casebus.penalty")
    unknown = stranger.seal(_penalty("P-unknown"), "casebus.penalty")
    producer.send_all([good, unknown])

    # The same event, its sealed identity number altered after it was signed.
    event = sealer.seal(_penalty("P-altered"), "casebus.penalty")
    topic = sync_topics.actual["casebus.penalty"]
    value = producer.serializers["casebus.penalty"](event, SerializationContext(topic))
    key = event_key(event)
    signed = producer.signers(AGENCY).sign("casebus.penalty", key, value, event_headers(event))
    sealed = str(event["penalty"]["person_id_no"]).encode()  # type: ignore[index]
    at = value.index(sealed) + len(envelope.PREFIX) + 40
    altered = value[:at] + (b"A" if value[at : at + 1] != b"A" else b"B") + value[at + 1 :]
    producer.send_raw("casebus.penalty", key, altered, signed, signed_by=None)
    producer.flush()

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    s = sync_settings(settings, registry_url=registry_url, db_url=url, topics=sync_topics)
    report = sync_until_idle(s, AGENCY)
    assert report.refusals == {"BadSignature": 1}
    assert report.dead_lettered == 1
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            stored = dict(
                conn.execute(select(PenaltyDecision.record_id, PenaltyDecision.person_id_no)).all()
            )
            notes = set(conn.scalars(select(EventLogEntry.detail)))
    finally:
        engine.dispose()
    assert stored == {"P-good": PERSON, "P-unknown": envelope.UNREADABLE}
    assert {"personal: 2 opened", "personal: 2 unreadable"} <= notes
