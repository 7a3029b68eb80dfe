"""a partial index of active generations, for the reconciler's scan

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "status IN ('pending', 'processing', 'awaiting_approval', 'cancelling')"


def upgrade() -> None:
    op.create_index(
        "ix_generations_active",
        "generations",
        ["created_at", "id"],
        postgresql_where=sa.text(ACTIVE),
        sqlite_where=sa.text(ACTIVE),
    )


def downgrade() -> None:
    op.drop_index("ix_generations_active", "generations")
