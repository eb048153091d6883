"""Personal erasures known by (source, id): "" the local key store, a region's code for its
key service, each of which numbers its erasures from 1 (docs/personal-data.md).

The table is rebuilt with the new primary key; the erasures carried out so far came from the
local key store (source "").

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import agencydb.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _table(with_source: bool) -> None:
    columns: list[sa.Column[object]] = []
    if with_source:
        columns.append(sa.Column("source", sa.String(length=16), server_default="", nullable=False))
    columns += [
        sa.Column("erasure_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("applied_at", agencydb.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
    ]
    key = ("source", "erasure_id") if with_source else ("erasure_id",)
    op.create_table(
        "personal_erasures",
        *columns,
        sa.PrimaryKeyConstraint(*key, name=op.f("pk_personal_erasures")),
    )


def _rebuild(with_source: bool) -> None:
    conn = op.get_bind()
    # Down: only the local key store's erasures fit the old key (source "").
    where = "" if with_source else " WHERE source = ''"
    rows = conn.execute(
        sa.text("SELECT erasure_id, applied_at, records FROM personal_erasures" + where)
    ).all()
    op.drop_table("personal_erasures")
    _table(with_source)
    if rows:
        conn.execute(
            sa.text(
                "INSERT INTO personal_erasures (erasure_id, applied_at, records)"
                " VALUES (:erasure_id, :applied_at, :records)"
            ),
            [dict(r._mapping) for r in rows],
        )


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
