"""Agency database: records, payload tables, event log, consumer offsets.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 17:14:28.478392
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import agencydb.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "case_links",
        sa.Column(
            "linked_case_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("agreement_ref", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("owner", "record_id", name=op.f("pk_case_links")),
    )
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(length=200), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("first_seen_at", agencydb.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_cases")),
    )
    op.create_table(
        "consumer_offsets",
        sa.Column("consumer_group", sa.String(length=249), nullable=False),
        sa.Column("topic", sa.String(length=249), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", agencydb.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "consumer_group", "topic", "partition", name=op.f("pk_consumer_offsets")
        ),
    )
    op.create_table(
        "enforcement_actions",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("party_name", sa.Text(), nullable=False),
        sa.Column("party_uscc", sa.Text(), nullable=True),
        sa.Column("action_date", sa.Date(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("by", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("owner", "record_id", name=op.f("pk_enforcement_actions")),
    )
    op.create_table(
        "event_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("topic", sa.String(length=249), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.Column("schema_id", sa.Integer(), nullable=True),
        sa.Column("producer", sa.Text(), nullable=True),
        sa.Column("event_type", sa.String(length=40), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=True),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("record_id", sa.String(length=200), nullable=True),
        sa.Column("revision", sa.BigInteger(), nullable=True),
        sa.Column("case_id", sa.String(length=200), nullable=True),
        sa.Column("occurred_at", agencydb.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("logged_at", agencydb.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_log")),
    )
    with op.batch_alter_table("event_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_log_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            "ix_event_log_position", ["topic", "partition", "offset"], unique=False
        )
        batch_op.create_index("ix_event_log_record", ["owner", "record_id"], unique=False)

    op.create_table(
        "leads",
        sa.Column("lead_no", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("platform", sa.Text(), nullable=True),
        sa.Column("seller_name", sa.Text(), nullable=False),
        sa.Column("seller_uscc", sa.Text(), nullable=True),
        sa.Column("seller_id_no", sa.Text(), nullable=True),
        sa.Column("shop_name", sa.Text(), nullable=False),
        sa.Column("shop_id", sa.Text(), nullable=True),
        sa.Column("shop_url", sa.Text(), nullable=False),
        sa.Column("infringement_type", sa.Text(), nullable=True),
        sa.Column("right_certificate", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "platform_actions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("jurisdiction_owner", sa.Text(), nullable=False),
        sa.Column(
            "target_regions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("owner", "record_id", name=op.f("pk_leads")),
    )
    op.create_table(
        "penalty_decisions",
        sa.Column("party_name", sa.Text(), nullable=False),
        sa.Column("party_category", sa.Text(), nullable=False),
        sa.Column("party_uscc", sa.Text(), nullable=True),
        sa.Column("reg_no", sa.Text(), nullable=True),
        sa.Column("org_code", sa.Text(), nullable=True),
        sa.Column("tax_no", sa.Text(), nullable=True),
        sa.Column("inst_cert_no", sa.Text(), nullable=True),
        sa.Column("social_org_no", sa.Text(), nullable=True),
        sa.Column("legal_rep_name", sa.Text(), nullable=True),
        sa.Column("legal_rep_id_type", sa.Text(), nullable=True),
        sa.Column("legal_rep_id_no", sa.Text(), nullable=True),
        sa.Column("person_id_type", sa.Text(), nullable=True),
        sa.Column("person_id_no", sa.Text(), nullable=True),
        sa.Column("decision_no", sa.Text(), nullable=False),
        sa.Column("violation_type", sa.Text(), nullable=False),
        sa.Column("violation_facts", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column(
            "penalty_categories",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("penalty_content", sa.Text(), nullable=False),
        sa.Column("fine_amount", agencydb.types.Money(precision=18, scale=6), nullable=True),
        sa.Column("confiscated_amount", agencydb.types.Money(precision=18, scale=6), nullable=True),
        sa.Column("license_affected", sa.Text(), nullable=True),
        sa.Column("decision_date", sa.Date(), nullable=False),
        sa.Column("effective_until", sa.Date(), nullable=False),
        sa.Column("publicity_until", sa.Date(), nullable=True),
        sa.Column("authority_name", sa.Text(), nullable=False),
        sa.Column("authority_uscc", sa.Text(), nullable=False),
        sa.Column("source_org", sa.Text(), nullable=False),
        sa.Column("source_org_uscc", sa.Text(), nullable=False),
        sa.Column("remarks", sa.Text(), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("owner", "record_id", name=op.f("pk_penalty_decisions")),
    )
    op.create_table(
        "records",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=200), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("handling", sa.String(length=2), nullable=False),
        sa.Column(
            "shared_with",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("occurred_at", agencydb.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("applied_at", agencydb.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("record_id", "owner", "kind", name=op.f("pk_records")),
    )
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_records_case_id"), ["case_id"], unique=False)

    op.create_table(
        "transfers",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("from_owner", sa.Text(), nullable=False),
        sa.Column("to_owner", sa.Text(), nullable=False),
        sa.Column("document_no", sa.Text(), nullable=False),
        sa.Column(
            "related_records",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "materials",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("approved_at", agencydb.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", agencydb.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("decided_at", agencydb.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "reconsideration_requested_at",
            agencydb.types.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("procuratorate_supervision", sa.Text(), nullable=True),
        sa.Column(
            "seized_items_handed_over_at",
            agencydb.types.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("decide_due", agencydb.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("send_due", agencydb.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("file_decision_due", agencydb.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("reconsideration_due", agencydb.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("seized_items_due", agencydb.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("owner", "record_id", name=op.f("pk_transfers")),
    )
    op.create_table(
        "lead_evidence",
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("captured_at", agencydb.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner", "record_id"],
            ["leads.owner", "leads.record_id"],
            name=op.f("fk_lead_evidence_owner_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("owner", "record_id", "position", name=op.f("pk_lead_evidence")),
    )
    op.create_table(
        "lead_items",
        sa.Column("listing_url", sa.Text(), nullable=False),
        sa.Column("listing_id", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner", "record_id"],
            ["leads.owner", "leads.record_id"],
            name=op.f("fk_lead_items_owner_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("owner", "record_id", "position", name=op.f("pk_lead_items")),
    )


def downgrade() -> None:

    op.drop_table("lead_items")
    op.drop_table("lead_evidence")
    op.drop_table("transfers")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_records_case_id"))

    op.drop_table("records")
    op.drop_table("penalty_decisions")
    op.drop_table("leads")
    with op.batch_alter_table("event_log", schema=None) as batch_op:
        batch_op.drop_index("ix_event_log_record")
        batch_op.drop_index("ix_event_log_position")
        batch_op.drop_index(batch_op.f("ix_event_log_case_id"))

    op.drop_table("event_log")
    op.drop_table("enforcement_actions")
    op.drop_table("consumer_offsets")
    op.drop_table("cases")
    op.drop_table("case_links")
