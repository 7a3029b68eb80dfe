"""stage queue times and own-error failures; an index of queued stages (the backlog)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 10:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import genflow.db.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUED = "status = 'pending' AND queued_at IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("generation_stages") as batch:
        batch.add_column(
            sa.Column("queued_at", genflow.db.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("queue_ms", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
    op.create_index(
        "ix_generation_stages_queued",
        "generation_stages",
        ["name", "queued_at"],
        postgresql_where=sa.text(QUEUED),
        sqlite_where=sa.text(QUEUED),
    )


def downgrade() -> None:
    op.drop_index("ix_generation_stages_queued", "generation_stages")
    with op.batch_alter_table("generation_stages") as batch:
        batch.drop_column("failures")
        batch.drop_column("queue_ms")
        batch.drop_column("queued_at")
