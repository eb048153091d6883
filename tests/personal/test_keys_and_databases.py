"""Sealing, opening by grant, and erasure, offline: a key store in a temporary folder and
agency databases on SQLite (and PostgreSQL), no broker."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from agencydb.chain import read_head
from agencydb.engine import open_database
from agencydb.models import EventLogEntry, Lead, PenaltyDecision
from agencydb.rows import RowBuilder
from casebus.config import Settings, load_settings
from casebus.contracts.samples import sample_lead_event, sample_penalty_event
from casebus.contracts.validation import validate_event
from casebus.events import stable_event_id
from casebus.personal import envelope
from casebus.personal.cipher import Sealer
from casebus.personal.erasure import erase, verify
from casebus.personal.keystore import KeyStore
from pipeline.apply import apply_batch
from pipeline.heads import PublishedHead
from pipeline.items import Decoded, Provenance
from pipeline.personal import carry_out_erasures, opener_for
from services.audit.verify import verify as audit_verify

pytestmark = pytest.mark.offline

PERSON = "510502198001011235"
SELLER = "510503199002023335"
INFORMANT = {
    "name": "赵敏",
    "phone": "13812345678",
    "id_type": "身份证",
    "id_no": "510504197503154445",
    "address": "泸州市江阳区滨江路12号",
    "confidential": True,
}
PLAIN = (PERSON, SELLER, "赵敏", "13812345678", "510504197503154445", "滨江路")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    base = load_settings()
    personal = base.personal.model_copy(
        update={"kek_dir": str(tmp_path / "kek"), "key_store": str(tmp_path / "keys.sqlite")}
    )
    return base.model_copy(update={"personal": personal, "var_dir": tmp_path})


def natural_person_penalty() -> dict[str, Any]:
    event = sample_penalty_event()
    event["penalty"].update(
        party_name="王小明",
        party_category="NATURAL_PERSON",
        party_uscc=None,
        legal_rep_name=None,
        person_id_type="身份证",
        person_id_no=PERSON,
    )
    return event


def reported_lead() -> dict[str, Any]:
    event = sample_lead_event()  # as market supervision's, complained about through 12315
    event.update(owner="510500-SAMR", producer="connector.samr-luzhou")
    event["event_id"] = stable_event_id("510500-SAMR", event["record_id"], 1, event["event_type"])
    event["lead"].update(source="COMPLAINT", seller_id_no=SELLER, informant=dict(INFORMANT))
    return event


def test_sealed_events_carry_no_plain_value_and_stay_valid(settings: Settings) -> None:
    sealer = Sealer(KeyStore.of(settings, create=True))
    for topic, event in (
        ("casebus.penalty", natural_person_penalty()),
        ("casebus.lead", reported_lead()),
    ):
        before = copy.deepcopy(event)
        assert validate_event(topic, event, settings=settings) == []
        sealed = sealer.seal(event, topic)
        assert event == before  # the caller's event is not changed
        assert not any(p in repr(sealed) for p in PLAIN)
        assert sealer.seal(event, topic) == sealed  # published again: the same bytes
        assert validate_event(topic, sealed, settings=settings, sealed=True) == []
        # a producer never takes a sealed value as if it were plain
        rules = {v.rule for v in validate_event(topic, sealed, settings=settings)}
        assert "personal.sealed" in rules
    assert sealed["lead"]["informant"]["confidential"] is True  # not personal: in clear


def test_an_invalid_identity_number_is_named_at_the_source(settings: Settings) -> None:
    event = natural_person_penalty()
    event["penalty"]["person_id_no"] = PERSON[:17] + "0"
    found = validate_event("casebus.penalty", event, settings=settings)
    assert [(v.field, v.rule, v.value) for v in found] == [
        ("penalty.person_id_no", "id_no.check_digit", "510502********1230")
    ]


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[dict[str, Engine]]:
    found = {a: open_database(f"sqlite:///{tmp_path}/{a}.sqlite") for a in AGENCIES}
    yield found
    for engine in found.values():
        engine.dispose()


# The owner, an agency granted when shared with it, one granted but not shared with, and one
# never granted.
AGENCIES = ("510500-SAMR", "510500-PSB", "500110-PSB", "510500-COM")


def _apply(settings: Settings, engine: Engine, agency: str, events: list[dict[str, Any]]) -> None:
    rows = RowBuilder(engine.dialect, opener_for(settings, agency))
    items = [Decoded(Provenance(topic, 0, i, 1), e) for i, (topic, e) in enumerate(_topics(events))]
    with engine.begin() as conn:
        apply_batch(conn, items, rows=rows)


def _topics(events: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [("casebus.penalty" if "penalty" in e else "casebus.lead", e) for e in events]


def _stored(engine: Engine) -> tuple[str | None, dict[str, Any] | None, str | None]:
    with engine.connect() as conn:
        person = conn.scalar(select(PenaltyDecision.person_id_no))
        informant = conn.scalar(select(Lead.informant))
        seller = conn.scalar(select(Lead.seller_id_no))
    return person, informant, seller


def _audit(settings: Settings, agency: str, engine: Engine) -> list[str]:
    with engine.connect() as conn:
        head = read_head(conn)
    assert head is not None
    now = datetime.now(UTC).isoformat()
    published = [PublishedHead(agency, head.chain_id, head.position, head.hash, head.rows, now)]
    return audit_verify(settings, agency, engine, heads=published).problems


def test_grants_then_erasure(settings: Settings, engines: dict[str, Engine]) -> None:
    sealer = Sealer(KeyStore.of(settings, create=True))
    events = [sealer.seal(e, t) for t, e in _topics([natural_person_penalty(), reported_lead()])]
    for agency, engine in engines.items():
        _apply(settings, engine, agency, events)

    # The owner and the police it shared the record with read it; the others do not.
    for agency in ("510500-SAMR", "510500-PSB"):
        person, informant, seller = _stored(engines[agency])
        assert (person, seller) == (PERSON, SELLER), agency
        assert informant == INFORMANT, agency
    for agency in ("500110-PSB", "510500-COM"):
        person, informant, seller = _stored(engines[agency])
        assert envelope.is_sealed(person) and envelope.is_sealed(seller), agency
        assert informant is not None and envelope.is_sealed(informant["phone"]), agency
    with engines["510500-COM"].connect() as conn:
        notes = set(conn.scalars(select(EventLogEntry.detail)))
    assert notes == {"personal: 2 sealed (not granted)", "personal: 6 sealed (not granted)"}

    done = erase(settings, PERSON, by="测试员", agency="510500-SAMR", reason="当事人申请")
    assert len(done.key_ids) == 1 and verify(settings, done)
    for agency, engine in engines.items():
        carry_out_erasures(
            engine, settings, RowBuilder(engine.dialect, opener_for(settings, agency))
        )
        person, informant, seller = _stored(engine)
        granted = agency in ("510500-SAMR", "510500-PSB")
        assert person == (envelope.ERASED if granted else person), agency
        assert seller == SELLER if granted else envelope.is_sealed(seller), agency  # untouched
        if granted:
            assert informant == INFORMANT
        assert _audit(settings, agency, engine) == [], agency
    # Applied again from the same events (a fresh rebuild): the marker, never the value.
    fresh = open_database(f"sqlite:///{settings.var_dir}/fresh.sqlite")
    _apply(settings, fresh, "510500-SAMR", events)
    assert _stored(fresh) == (envelope.ERASED, INFORMANT, SELLER)
    fresh.dispose()
    # And a second erasure is carried out once, the first not again.
    erase(settings, "13812345678", by="测试员", agency="510500-SAMR")  # the informant, by phone
    for agency, engine in engines.items():
        rows = RowBuilder(engine.dialect, opener_for(settings, agency))
        changed = carry_out_erasures(engine, settings, rows)
        assert changed == 1, agency  # sealed or opened, the value is marked
        assert carry_out_erasures(engine, settings, rows) == 0
        assert _audit(settings, agency, engine) == [], agency
    _, informant, _ = _stored(engines["510500-SAMR"])
    assert informant is not None and informant["name"] == envelope.ERASED
    assert informant["confidential"] is True


def test_an_invalid_identity_number_sealed_elsewhere_is_named_when_opened(
    settings: Settings,
) -> None:
    """A producer that skipped the check cannot slip one through unnoticed: the reader
    that opens it names the rule in its event log."""
    event = natural_person_penalty()
    event["penalty"]["person_id_no"] = PERSON[:17] + "0"
    sealed = Sealer(KeyStore.of(settings, create=True)).seal(event, "casebus.penalty")
    opened = opener_for(settings, "510500-SAMR").open(sealed, "penalty", sealed["penalty"])
    assert opened.note() == "personal: 2 opened, invalid penalty.person_id_no: id_no.check_digit"


def test_an_opener_that_opened_a_value_before_its_erasure_marks_it_after(
    settings: Settings,
) -> None:
    """A running sync opens each sealed text once (revisions and re-deliveries repeat it);
    an erasure by another process empties what it remembered, with the keys."""
    sealer = Sealer(KeyStore.of(settings, create=True))
    ((topic, event),) = _topics([natural_person_penalty()])
    sealed = sealer.seal(event, topic)
    opener = opener_for(settings, "510500-SAMR")
    for _ in range(2):  # the second time from what it remembered
        opened = opener.open(sealed, "penalty", sealed["penalty"])
        assert opened.payload["person_id_no"] == PERSON and opened.opened == 2
    erase(settings, PERSON, by="测试员", agency="510500-SAMR", reason="当事人申请")
    opener._fresh._checked = 0.0  # its next look at the erasure log is due now
    opened = opener.open(sealed, "penalty", sealed["penalty"])
    assert opened.payload["person_id_no"] == envelope.ERASED and opened.erased == 2
