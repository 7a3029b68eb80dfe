"""The tables of the generations themselves: a generation's row and the stage, event and
artifact rows deleted with it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from genflow.db.declarative import Base, JSONList, utcnow

STATS_COLUMNS = (
    "status",
    "quality_score",
    "created_at",
    "completed_at",
    "run_ms",
    "schema_extraction_ms",
    "code_generation_ms",
    "code_review_ms",
    "documentation_ms",
)


# The active statuses (genflow.domain.ACTIVE_STATUSES) as SQL, for partial indexes.
ACTIVE_WHERE = "status IN ('pending', 'processing', 'awaiting_approval', 'cancelling')"


class Generation(Base):
    __tablename__ = "generations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str | None] = mapped_column(String(255))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    root_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    iteration: Mapped[int] = mapped_column(Integer, default=0)
    # The failed or cancelled generation this one reruns (`POST .../retry`).
    retry_of: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # What the workflow started with that has no column (genflow.db.start_options),
    # so a retry starts with the same; NULL on rows older than migration 0009.
    options: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    title: Mapped[str | None] = mapped_column(String(500))
    prompt: Mapped[str] = mapped_column(Text)
    template: Mapped[str | None] = mapped_column(String(100))
    variables: Mapped[dict[str, Any]] = mapped_column(default=dict)
    provider: Mapped[str] = mapped_column(String(50))
    model: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(32))
    stage: Mapped[str | None] = mapped_column(String(32))
    progress: Mapped[int] = mapped_column(Integer, default=0)
    quality_score: Mapped[float | None] = mapped_column(Float)
    quality_report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error_code: Mapped[str | None] = mapped_column(String(100))
    error_message: Mapped[str | None] = mapped_column(Text)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSONList, default=list)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    workflow_id: Mapped[str] = mapped_column(String(100))
    last_event_id: Mapped[int] = mapped_column(Integer, default=0)
    # The workflow run whose activities write this row, and how many runs it has had
    # (an operator's Reset starts a new run; its events get keys of their own).
    run_id: Mapped[str | None] = mapped_column(String(64))
    run_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    # Durations copied from the stages at completion, so statistics read one
    # covering index instead of joining every stage row.
    run_ms: Mapped[int | None] = mapped_column(Integer)
    schema_extraction_ms: Mapped[int | None] = mapped_column(Integer)
    code_generation_ms: Mapped[int | None] = mapped_column(Integer)
    code_review_ms: Mapped[int | None] = mapped_column(Integer)
    documentation_ms: Mapped[int | None] = mapped_column(Integer)

    stages: Mapped[list[Stage]] = relationship(
        back_populates="generation",
        order_by="Stage.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    artifacts: Mapped[list[Artifact]] = relationship(
        back_populates="generation",
        order_by="Artifact.path",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    __table_args__ = (
        # Keyset pagination of one user's generations, newest first, and each filter.
        Index("ix_generations_user_created", "user_id", "created_at", "id"),
        Index("ix_generations_user_status_created", "user_id", "status", "created_at", "id"),
        Index("ix_generations_user_project_created", "user_id", "project_id", "created_at", "id"),
        Index("ix_generations_user_quality", "user_id", "quality_score"),
        Index("ix_generations_user_completed", "user_id", "completed_at"),
        Index("ix_generations_parent", "parent_id", "created_at"),
        # Whole iteration chains (`root_id` filter) and the retries of one generation.
        Index(
            "ix_generations_root",
            "root_id",
            "created_at",
            postgresql_where=text("root_id IS NOT NULL"),
            sqlite_where=text("root_id IS NOT NULL"),
        ),
        Index(
            "ix_generations_retry_of",
            "retry_of",
            postgresql_where=text("retry_of IS NOT NULL"),
            sqlite_where=text("retry_of IS NOT NULL"),
        ),
        Index(
            "ix_generations_user_stats",
            "user_id",
            postgresql_include=[*STATS_COLUMNS],
        ),
        Index("ix_generations_tags", "tags", postgresql_using="gin"),
        # The reconciler's scan: active rows only, oldest first.
        Index(
            "ix_generations_active",
            "created_at",
            "id",
            postgresql_where=text(ACTIVE_WHERE),
            sqlite_where=text(ACTIVE_WHERE),
        ),
        Index(
            "ix_generations_title_trgm",
            "title",
            postgresql_using="gin",
            postgresql_ops={"title": "gin_trgm_ops"},
        ),
        Index(
            "ix_generations_prompt_trgm",
            "prompt",
            postgresql_using="gin",
            postgresql_ops={"prompt": "gin_trgm_ops"},
        ),
    )


class Stage(Base):
    __tablename__ = "generation_stages"

    generation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("generations.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    # Since when the stage waits in Temporal's task queue (set when the stage before it
    # ends; a stage is queued while it is pending with queued_at set), and how long
    # its latest attempt waited there (schedule-to-start).
    queued_at: Mapped[datetime | None]
    queue_ms: Mapped[int | None] = mapped_column(Integer)
    # Attempts that ended in the stage's own error (infrastructure faults not counted).
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    generation: Mapped[Generation] = relationship(back_populates="stages")

    __table_args__ = (
        # The backlog: queued stages only, so counting it stays cheap at any size.
        Index(
            "ix_generation_stages_queued",
            "name",
            "queued_at",
            postgresql_where=text("status = 'pending' AND queued_at IS NOT NULL"),
            sqlite_where=text("status = 'pending' AND queued_at IS NOT NULL"),
        ),
    )


class Event(Base):
    """A stored stream event. `id` only grows within one generation; `key` makes
    each write idempotent so a retried activity never records an event twice."""

    __tablename__ = "generation_events"

    generation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("generations.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    key: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("generation_id", "key", name="uq_events_generation_key"),)


class Artifact(Base):
    __tablename__ = "artifacts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    generation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("generations.id", ondelete="CASCADE")
    )
    path: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    generation: Mapped[Generation] = relationship(back_populates="artifacts")

    __table_args__ = (
        UniqueConstraint("generation_id", "path", name="uq_artifacts_generation_path"),
    )
