"""the workflow run that writes each generation, and its number of runs (resets)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 11:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("generations") as batch:
        batch.add_column(sa.Column("run_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("run_epoch", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("generations") as batch:
        batch.drop_column("run_epoch")
        batch.drop_column("run_id")
