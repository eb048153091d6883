"""Personal fields: a lead's informant, the data key of each personal value, the erasures
carried out (casebus.personal, docs/personal-data.md).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import agencydb.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("informant", _json(), nullable=True))
        batch_op.add_column(sa.Column("personal_keys", _json(), nullable=True))
    with op.batch_alter_table("penalty_decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("personal_keys", _json(), nullable=True))
    op.create_table(
        "personal_erasures",
        sa.Column("erasure_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("applied_at", agencydb.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("erasure_id", name=op.f("pk_personal_erasures")),
    )


def downgrade() -> None:
    op.drop_table("personal_erasures")
    with op.batch_alter_table("penalty_decisions", schema=None) as batch_op:
        batch_op.drop_column("personal_keys")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_column("personal_keys")
        batch_op.drop_column("informant")
