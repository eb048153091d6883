"""An agency database: replicas of shared records, the event log and the consumer offsets.

Every replicated record has one row in `records` (its identity, revision and content digest:
what the apply rule and reconcile compare) and one row in the table of its kind holding the
payload; payload columns carry the Avro field names, so rows are built by name.
A record is identified by (kind, owner, record_id): record ids are unique within an owner,
the kind only keeps a transfer and an action that share a number apart.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from agencydb.types import JsonList, Money, UtcDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        Decimal: Money(),
        list[Any]: JsonList,
        str: Text(),
    }


class Record(Base):
    """The current revision of one replicated record, whatever its kind."""

    __tablename__ = "records"
    # record_id leads: the apply path looks records up by record id.
    __table_args__ = (PrimaryKeyConstraint("record_id", "owner", "kind"),)
    kind: Mapped[str] = mapped_column(String(16))  # penalty, lead, ...
    owner: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str] = mapped_column(String(200))
    revision: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(36))
    case_id: Mapped[str] = mapped_column(String(200), index=True)
    region: Mapped[str] = mapped_column(String(6))
    handling: Mapped[str] = mapped_column(String(2))
    shared_with: Mapped[list[Any]]
    occurred_at: Mapped[datetime]
    applied_at: Mapped[datetime]


class Case(Base):
    """A case as first seen here; its records and actions point to it by case_id."""

    __tablename__ = "cases"
    case_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    region: Mapped[str] = mapped_column(String(6))
    first_seen_at: Mapped[datetime]


class _Payload:
    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(200), primary_key=True)


class PenaltyDecision(_Payload, Base):
    __tablename__ = "penalty_decisions"
    party_name: Mapped[str]
    party_category: Mapped[str]
    party_uscc: Mapped[str | None]
    reg_no: Mapped[str | None]
    org_code: Mapped[str | None]
    tax_no: Mapped[str | None]
    inst_cert_no: Mapped[str | None]
    social_org_no: Mapped[str | None]
    legal_rep_name: Mapped[str | None]
    legal_rep_id_type: Mapped[str | None]
    legal_rep_id_no: Mapped[str | None]
    person_id_type: Mapped[str | None]
    person_id_no: Mapped[str | None]
    # Personal field (dotted path) -> the data key it was sealed under (casebus.personal):
    # what an erasure looks up. Values above are opened, sealed or an erasure marker.
    personal_keys: Mapped[dict[str, Any] | None] = mapped_column(JsonList)
    decision_no: Mapped[str]
    violation_type: Mapped[str]
    violation_facts: Mapped[str]
    legal_basis: Mapped[str]
    penalty_categories: Mapped[list[Any]]
    penalty_content: Mapped[str]
    fine_amount: Mapped[Decimal | None]
    confiscated_amount: Mapped[Decimal | None]
    license_affected: Mapped[str | None]
    decision_date: Mapped[date]
    effective_until: Mapped[date]
    publicity_until: Mapped[date | None]
    authority_name: Mapped[str]
    authority_uscc: Mapped[str]
    source_org: Mapped[str]
    source_org_uscc: Mapped[str]
    remarks: Mapped[str | None]
    revoke_reason: Mapped[str | None]


class Lead(_Payload, Base):
    """A lead; its informant (personal data) as this agency may see it (casebus.personal)."""

    __tablename__ = "leads"
    lead_no: Mapped[str]
    source: Mapped[str]
    platform: Mapped[str | None]
    seller_name: Mapped[str]
    seller_uscc: Mapped[str | None]
    seller_id_no: Mapped[str | None]
    shop_name: Mapped[str]
    shop_id: Mapped[str | None]
    shop_url: Mapped[str]
    infringement_type: Mapped[str | None]
    right_certificate: Mapped[str | None]
    description: Mapped[str]
    platform_actions: Mapped[list[Any]]
    status: Mapped[str]
    jurisdiction_owner: Mapped[str]
    target_regions: Mapped[list[Any]]
    informant: Mapped[dict[str, Any] | None] = mapped_column(JsonList)
    personal_keys: Mapped[dict[str, Any] | None] = mapped_column(JsonList)


class _LeadChild:
    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)


class LeadItem(_LeadChild, Base):
    __tablename__ = "lead_items"
    __table_args__ = (
        ForeignKeyConstraint(
            ["owner", "record_id"], ["leads.owner", "leads.record_id"], ondelete="CASCADE"
        ),
    )
    listing_url: Mapped[str]
    listing_id: Mapped[str | None]
    title: Mapped[str]


class LeadEvidence(_LeadChild, Base):
    __tablename__ = "lead_evidence"
    __table_args__ = (
        ForeignKeyConstraint(
            ["owner", "record_id"], ["leads.owner", "leads.record_id"], ondelete="CASCADE"
        ),
    )
    uri: Mapped[str]
    sha256: Mapped[str]
    captured_at: Mapped[datetime]


class Transfer(_Payload, Base):
    __tablename__ = "transfers"
    kind: Mapped[str]
    from_owner: Mapped[str]
    to_owner: Mapped[str]
    document_no: Mapped[str]
    related_records: Mapped[list[Any]]
    materials: Mapped[list[Any]]
    approved_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    decision: Mapped[str | None]
    decision_reason: Mapped[str | None]
    decided_at: Mapped[datetime | None]
    reconsideration_requested_at: Mapped[datetime | None]
    procuratorate_supervision: Mapped[str | None]
    seized_items_handed_over_at: Mapped[datetime | None]
    decide_due: Mapped[datetime | None]
    send_due: Mapped[datetime | None]
    file_decision_due: Mapped[datetime | None]
    reconsideration_due: Mapped[datetime | None]
    seized_items_due: Mapped[datetime | None]


class EnforcementAction(_Payload, Base):
    __tablename__ = "enforcement_actions"
    kind: Mapped[str]
    party_name: Mapped[str]
    party_uscc: Mapped[str | None]
    action_date: Mapped[date]
    content: Mapped[str]
    by: Mapped[str]


class CaseLink(_Payload, Base):
    __tablename__ = "case_links"
    linked_case_ids: Mapped[list[Any]]
    agreement_ref: Mapped[str | None]
    reason: Mapped[str]


class EventLogEntry(Base):
    """Every event seen, applied or not, with its provenance and what became of it.

    A `filtered` event (not for this agency) is logged by provenance only: no owner, record,
    case or content, so a database learns nothing of records it may not hold.
    """

    __tablename__ = "event_log"
    __table_args__ = (
        Index("ix_event_log_record", "owner", "record_id"),
        Index("ix_event_log_position", "topic", "partition", "offset"),
        # A DLQ record is redriven once. Only redriven rows are indexed: every other row
        # (nearly all) has no DLQ position, and indexing its NULLs cost each event written.
        Index(
            "uq_event_log_dlq_position",
            "dlq_topic",
            "dlq_partition",
            "dlq_offset",
            unique=True,
            postgresql_where=text("dlq_topic IS NOT NULL"),
            sqlite_where=text("dlq_topic IS NOT NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    topic: Mapped[str] = mapped_column(String(249))
    partition: Mapped[int]
    offset: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str | None] = mapped_column(String(36))
    schema_id: Mapped[int | None]
    producer: Mapped[str | None]
    event_type: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str | None] = mapped_column(String(16))
    owner: Mapped[str | None] = mapped_column(String(64))
    record_id: Mapped[str | None] = mapped_column(String(200))
    revision: Mapped[int | None] = mapped_column(BigInteger)
    case_id: Mapped[str | None] = mapped_column(String(200), index=True)
    occurred_at: Mapped[datetime | None]
    digest: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # pipeline.apply.Outcome
    detail: Mapped[str | None]
    logged_at: Mapped[datetime]
    # "sync" (live), "replay" (casebus replay) or "redrive" (casebus dlq redrive): which
    # path read the event this time.
    origin: Mapped[str] = mapped_column(String(8), server_default="sync")
    # agencydb/chain.py: the digest of the rows this event wrote for its record (the
    # winner of its batch only), and the hash over this row and the one before it.
    state_digest: Mapped[str | None] = mapped_column(String(64))
    # A redriven event (origin "redrive"): the DLQ record it was sent back from. Chained
    # when set (agencydb/chain.py); NULL on every other row.
    dlq_topic: Mapped[str | None] = mapped_column(String(249))
    dlq_partition: Mapped[int | None]
    dlq_offset: Mapped[int | None] = mapped_column(BigInteger)
    chain: Mapped[str | None] = mapped_column(String(64))


class AuditHead(Base):
    """The head of the event-log chain: one row, locked by each writer (chain.lock_head)."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[str] = mapped_column(String(32))  # new for each database built
    position: Mapped[int] = mapped_column(BigInteger)  # event_log.id of the last chained row
    hash: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(BigInteger)


class PersonalErasure(Base):
    """An erasure (casebus personal erase) this database has carried out on its rows."""

    __tablename__ = "personal_erasures"
    # "" the local key store; a region's code for its key service (each numbers its own).
    source: Mapped[str] = mapped_column(String(16), primary_key=True, server_default="")
    erasure_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    applied_at: Mapped[datetime]
    records: Mapped[int] = mapped_column(Integer)


class ConsumerOffset(Base):
    """Next offset to read per partition, written in the same transaction as the rows."""

    __tablename__ = "consumer_offsets"
    consumer_group: Mapped[str] = mapped_column(String(249), primary_key=True)
    topic: Mapped[str] = mapped_column(String(249), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


PAYLOAD_MODELS: dict[str, type[Base]] = {
    "penalty": PenaltyDecision,
    "lead": Lead,
    "transfer": Transfer,
    "action": EnforcementAction,
    "case": CaseLink,
}


def table_of(model: type[Base]) -> Table:
    """The model's Table, typed as one (`__table__` is typed as a FromClause)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table
