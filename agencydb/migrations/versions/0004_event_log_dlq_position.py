"""Event log: where a redriven event sat in its DLQ (`casebus dlq redrive`).

Nullable: every row before, and every row that was not redriven, has none. The chain
(agencydb/chain.py) hashes the position only when it is set, so old chains verify as before.
The unique index keeps one row per DLQ record: a record is redriven once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("event_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dlq_topic", sa.String(length=249), nullable=True))
        batch_op.add_column(sa.Column("dlq_partition", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("dlq_offset", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            "uq_event_log_dlq_position", ["dlq_topic", "dlq_partition", "dlq_offset"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("event_log", schema=None) as batch_op:
        batch_op.drop_index("uq_event_log_dlq_position")
        batch_op.drop_column("dlq_offset")
        batch_op.drop_column("dlq_partition")
        batch_op.drop_column("dlq_topic")
