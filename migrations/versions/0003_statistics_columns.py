"""durations on the generation row and a covering index for statistics

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 02:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DURATIONS = (
    "run_ms",
    "schema_extraction_ms",
    "code_generation_ms",
    "code_review_ms",
    "documentation_ms",
)
STATS_COLUMNS = ("status", "quality_score", "created_at", "completed_at", *DURATIONS)


def upgrade() -> None:
    with op.batch_alter_table("generations") as batch:
        for column in DURATIONS:
            batch.add_column(sa.Column(column, sa.Integer(), nullable=True))
    stage_ms = (
        "SELECT duration_ms FROM generation_stages s "
        "WHERE s.generation_id = generations.id AND s.name = '{name}'"
    )
    op.execute(
        "UPDATE generations SET "
        + ", ".join(
            f"{column} = ({stage_ms.format(name=column.removesuffix('_ms'))})"
            for column in DURATIONS[1:]
        )
        + " WHERE completed_at IS NOT NULL"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE generations SET run_ms = "
            "(extract(epoch FROM completed_at - started_at) * 1000)::int "
            "WHERE completed_at IS NOT NULL AND started_at IS NOT NULL"
        )
        op.create_index(
            "ix_generations_user_stats",
            "generations",
            ["user_id"],
            postgresql_include=list(STATS_COLUMNS),
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_generations_user_stats", "generations")
    with op.batch_alter_table("generations") as batch:
        for column in DURATIONS:
            batch.drop_column(column)
