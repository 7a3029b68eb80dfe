"""retries and iteration chains: `retry_of`, the start options a retry reuses, and
indexes for the `root_id` and `retry_of` filters

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 14:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("generations") as batch:
        batch.add_column(sa.Column("retry_of", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("options", sa.JSON(), nullable=True))
    for name, columns in (
        ("ix_generations_root", ["root_id", "created_at"]),
        ("ix_generations_retry_of", ["retry_of"]),
    ):
        only_set = sa.text(f"{columns[0]} IS NOT NULL")
        op.create_index(
            name, "generations", columns, postgresql_where=only_set, sqlite_where=only_set
        )


def downgrade() -> None:
    op.drop_index("ix_generations_retry_of", "generations")
    op.drop_index("ix_generations_root", "generations")
    with op.batch_alter_table("generations") as batch:
        batch.drop_column("options")
        batch.drop_column("retry_of")
