"""Event log: which path logged each event (live sync or a replay).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("event_log", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("origin", sa.String(length=8), nullable=False, server_default="sync")
        )


def downgrade() -> None:
    with op.batch_alter_table("event_log", schema=None) as batch_op:
        batch_op.drop_column("origin")
