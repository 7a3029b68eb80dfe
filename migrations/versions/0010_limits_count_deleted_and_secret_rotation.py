"""deleted generations keep counting against the creates-per-minute limit (tombstones
carry owner and creation time); webhook secret rotation keeps the replaced secret

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 14:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import genflow.db.models

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deleted_generations") as batch:
        batch.add_column(sa.Column("user_id", sa.String(length=255), nullable=True))
        batch.add_column(
            sa.Column("created_at", genflow.db.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.create_index("ix_deleted_generations_user_created", ["user_id", "created_at"])
    with op.batch_alter_table("webhook_secrets") as batch:
        batch.add_column(sa.Column("previous_secret", sa.String(length=100), nullable=True))
        batch.add_column(
            sa.Column(
                "previous_expires_at", genflow.db.models.UTCDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_secrets") as batch:
        batch.drop_column("previous_expires_at")
        batch.drop_column("previous_secret")
    with op.batch_alter_table("deleted_generations") as batch:
        batch.drop_index("ix_deleted_generations_user_created")
        batch.drop_column("created_at")
        batch.drop_column("user_id")
