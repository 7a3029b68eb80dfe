"""large requests' fields, passed to the workflow through the read model

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 11:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import genflow.db.models

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "generation_inputs",
        sa.Column("generation_id", sa.Uuid(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", genflow.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("generation_id"),
    )


def downgrade() -> None:
    op.drop_table("generation_inputs")
