"""projects, idempotency keys, deletion tombstones and an index for every list filter

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 01:48:14.119310
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import genflow.db.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deleted_generations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("deleted_at", genflow.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("generation_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", genflow.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "key"),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", genflow.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_projects_user_created", "projects", ["user_id", "created_at", "id"])
    op.create_index("ix_generations_parent", "generations", ["parent_id", "created_at"])
    op.create_index("ix_generations_user_completed", "generations", ["user_id", "completed_at"])
    op.create_index(
        "ix_generations_user_project_created",
        "generations",
        ["user_id", "project_id", "created_at", "id"],
    )
    op.create_index("ix_generations_user_quality", "generations", ["user_id", "quality_score"])
    if op.get_bind().dialect.name == "postgresql":
        # Tag containment and substring search as index scans: JSONB + GIN, trigrams.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.alter_column(
            "generations",
            "tags",
            type_=postgresql.JSONB(),
            postgresql_using="tags::jsonb",
        )
        op.create_index("ix_generations_tags", "generations", ["tags"], postgresql_using="gin")
        for column in ("title", "prompt"):
            op.create_index(
                f"ix_generations_{column}_trgm",
                "generations",
                [column],
                postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"},
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_generations_prompt_trgm", "generations")
        op.drop_index("ix_generations_title_trgm", "generations")
        op.drop_index("ix_generations_tags", "generations")
        op.alter_column("generations", "tags", type_=sa.JSON(), postgresql_using="tags::json")
    op.drop_index("ix_generations_user_quality", "generations")
    op.drop_index("ix_generations_user_project_created", "generations")
    op.drop_index("ix_generations_user_completed", "generations")
    op.drop_index("ix_generations_parent", "generations")
    op.drop_index("ix_projects_user_created", "projects")
    op.drop_table("projects")
    op.drop_table("idempotency_keys")
    op.drop_table("deleted_generations")
