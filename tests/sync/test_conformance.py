"""The conformance suite every agency database passes: each test on SQLite and PostgreSQL.

Real events go through the real broker (a test's own topics) and the real sync consumer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from agencydb.engine import make_engine
from agencydb.models import LeadItem, PenaltyDecision
from casebus.config import Settings
from casebus.events import EventType
from casebus.serde import frame
from services.sync.service import sync_until_idle
from tests.sync.helpers import (
    EventProducer,
    SyncTopics,
    action,
    event_log,
    lead,
    penalty,
    read_topic,
    records,
    sync_settings,
)

AGENCY = "500110-SAMR"  # Qijiang: receives Luzhou records shared with region 500110
PSB = "510500-PSB"


class TestSyncConformance:
    @pytest.fixture(autouse=True)
    def _env(
        self,
        db_url: str,
        settings: Settings,
        registry_url: str,
        sync_topics: SyncTopics,
        producer: EventProducer,
        kafka_bootstrap: str,
    ) -> None:
        self.db_url = db_url
        self.topics = sync_topics
        self.producer = producer
        self.bootstrap = kafka_bootstrap
        self.settings = sync_settings(
            settings, registry_url=registry_url, db_url=db_url, topics=sync_topics
        )

    def sync(self) -> dict[str, int]:
        return dict(sync_until_idle(self.settings, AGENCY).counts)

    def outcomes(self) -> list[tuple[str | None, int | None, str]]:
        return [(e.record_id, e.revision, e.outcome) for e in event_log(self.db_url)]

    def test_new_records_of_every_kind_are_inserted(self) -> None:
        self.producer.send_all(
            [
                penalty("P-1"),
                lead("L-1", items=3),
                action(EventType.TRANSFER_REQUESTED, "T-1"),
                action(EventType.ACTION_RECORDED, "A-1"),
                action(EventType.CASE_LINKED, "C-1"),
            ]
        )
        assert self.sync() == {"applied": 5}
        stored = records(self.db_url)
        assert {k[0] for k in stored} == {"penalty", "lead", "transfer", "action", "case"}
        engine = make_engine(self.db_url)
        with engine.connect() as conn:
            fine = conn.scalar(select(PenaltyDecision.fine_amount))
            items = conn.scalars(select(LeadItem.listing_id).order_by(LeadItem.position)).all()
        engine.dispose()
        assert str(fine) == "5.000000"
        assert items == ["1000", "1001", "1002"]
        log = event_log(self.db_url)
        assert all(e.topic in self.topics.actual.values() and e.schema_id for e in log)
        assert {e.producer for e in log} >= {"connector.samr-luzhou", "connector.platform-jd"}

    def test_duplicates_are_counted_not_applied(self) -> None:
        self.producer.send_all([penalty("P-1"), penalty("P-1"), penalty("P-1")])
        assert self.sync() == {"applied": 1, "duplicate": 2}
        self.producer.send_all([penalty("P-1")])
        assert self.sync() == {"duplicate": 1}
        assert records(self.db_url)[("penalty", "510500-SAMR", "P-1")][0] == 1

    def test_revisions_out_of_order_end_at_the_highest(self) -> None:
        self.producer.send_all([penalty("P-1", 3), penalty("P-1", 1), penalty("P-1", 2)])
        assert self.sync() == {"applied": 1, "stale": 2}
        self.producer.send_all([penalty("P-1", 4)])
        assert self.sync() == {"applied": 1}
        assert records(self.db_url)[("penalty", "510500-SAMR", "P-1")][0] == 4

    def test_stale_revision_is_logged_not_applied(self) -> None:
        self.producer.send_all([penalty("P-1", 2)])
        self.sync()
        self.producer.send_all([penalty("P-1", 1)])
        assert self.sync() == {"stale": 1}
        assert self.outcomes() == [("P-1", 2, "applied"), ("P-1", 1, "stale")]
        engine = make_engine(self.db_url)
        with engine.connect() as conn:
            assert conn.scalar(select(PenaltyDecision.remarks)) == "第2次变更"
        engine.dispose()

    def test_conflicting_content_is_kept_out_and_dead_lettered(self) -> None:
        first = penalty("P-1", 2)
        other = penalty("P-1", 2)
        other["penalty"]["fine_amount"] = other["penalty"]["fine_amount"] * 2
        self.producer.send_all([first, other])
        assert self.sync() == {"applied": 1, "conflict": 1}
        assert records(self.db_url)[("penalty", "510500-SAMR", "P-1")][0] == 2
        engine = make_engine(self.db_url)
        with engine.connect() as conn:
            assert str(conn.scalar(select(PenaltyDecision.fine_amount))) == "5.000000"
        engine.dispose()
        (dead,) = read_topic(self.bootstrap, self.topics.dlq, expected=1)
        headers = dict(dead.headers)
        assert headers["casebus.error.class"] == b"RevisionConflict"
        assert (headers["casebus.error.offset"], dead.key) == (b"1", b"CASE-510500-2025-0017")

    def test_revocation_replaces_the_decision(self) -> None:
        revoked = penalty("P-1", 2, event_type=EventType.PENALTY_REVOKED.value)
        revoked["penalty"]["revoke_reason"] = "复议决定撤销原处罚决定"
        self.producer.send_all([penalty("P-1"), revoked])
        assert self.sync() == {"applied": 2}
        engine = make_engine(self.db_url)
        with engine.connect() as conn:
            assert conn.scalar(select(PenaltyDecision.revoke_reason)) == "复议决定撤销原处罚决定"
        engine.dispose()
        assert self.outcomes() == [("P-1", 1, "applied"), ("P-1", 2, "applied")]

    def test_poison_message_goes_to_the_dlq_with_its_bytes_and_headers(self) -> None:
        poison = b"\x07not avro at all"
        headers = [("trace", b"abc123")]
        self.producer.send_raw("casebus.penalty", b"CASE-X", poison, headers)
        self.producer.send_all([penalty("P-1")])
        assert self.sync() == {"applied": 1, "rejected": 1}
        (dead,) = read_topic(self.bootstrap, self.topics.dlq, expected=1)
        assert (dead.key, dead.value) == (b"CASE-X", poison)
        got = dict(dead.headers)
        assert got["trace"] == b"abc123"
        assert got["casebus.error.class"] == b"BadMagicByte"
        assert got["casebus.error.topic"] == self.topics.actual["casebus.penalty"].encode()
        assert {"casebus.error.partition", "casebus.error.offset"} <= got.keys()
        assert got["casebus.error.message"]
        (rejected,) = [e for e in event_log(self.db_url) if e.outcome == "rejected"]
        assert rejected.event_id is None and "BadMagicByte" in (rejected.detail or "")

    def test_unknown_schema_id_goes_to_the_dlq(self) -> None:
        value = frame(987_654, b"\x00\x02")
        self.producer.send_raw("casebus.lead", b"CASE-Y", value, [])
        self.producer.flush()
        assert self.sync() == {"rejected": 1}
        (dead,) = read_topic(self.bootstrap, self.topics.dlq, expected=1)
        assert dead.value == value
        assert dict(dead.headers)["casebus.error.class"] == b"UnknownSchemaId"

    def test_handling_codes_decide_who_receives_what(self, tmp_path: Path) -> None:
        self.producer.send_all(
            [
                penalty("H1-shared"),  # H1, shared with region 500110
                penalty("H3-police", handling="H3"),
                penalty("H2-named", handling="H2", shared_with=["500110-SAMR"]),
                penalty("H2-other", handling="H2", shared_with=["500110", "510500-PSB"]),
                penalty("H1-other", shared_with=["510500-PSB"]),
            ]
        )
        assert self.sync() == {"applied": 2, "filtered": 3}
        assert {k[2] for k in records(self.db_url)} == {"H1-shared", "H2-named"}
        filtered = [e for e in event_log(self.db_url) if e.outcome == "filtered"]
        assert len(filtered) == 3 and all(e.event_id and e.schema_id for e in filtered)
        assert {e.record_id for e in filtered} == {None}  # provenance only
        # The Luzhou police (own database): their region's police-only record, and H2 named.
        police_db = f"sqlite:///{tmp_path / 'psb.sqlite'}"
        police = self.settings.model_copy(
            update={"sync": self.settings.sync.model_copy(update={"db_url": police_db})}
        )
        assert sync_until_idle(police, PSB).counts == {"applied": 4, "filtered": 1}
        assert {k[2] for k in records(police_db)} == {
            "H1-shared",
            "H3-police",
            "H2-other",
            "H1-other",
        }

    def test_two_revisions_of_one_record_in_one_batch(self) -> None:
        self.producer.send_all(
            [penalty("P-1", 1), penalty("P-1", 2), penalty("P-2", 2), penalty("P-2", 1)]
        )
        assert self.sync() == {"applied": 3, "stale": 1}
        stored = records(self.db_url)
        assert stored[("penalty", "510500-SAMR", "P-1")][0] == 2
        assert stored[("penalty", "510500-SAMR", "P-2")][0] == 2
        assert self.outcomes() == [
            ("P-1", 1, "applied"),
            ("P-1", 2, "applied"),
            ("P-2", 2, "applied"),
            ("P-2", 1, "stale"),
        ]

    def test_lead_items_follow_the_latest_revision(self) -> None:
        self.producer.send_all([lead("L-1", 1, items=3), lead("L-1", 2, items=1)])
        assert self.sync() == {"applied": 2}
        engine = make_engine(self.db_url)
        with engine.connect() as conn:
            assert conn.scalars(select(LeadItem.listing_id)).all() == ["1000"]
        engine.dispose()
