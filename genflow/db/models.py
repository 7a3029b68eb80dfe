"""Tables of the read model, gathered here so that Alembic sees every one. One schema
for SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from genflow.db.declarative import Base, JSONList, UTCDateTime, utcnow
from genflow.db.generation_tables import (
    ACTIVE_WHERE,
    STATS_COLUMNS,
    Artifact,
    Event,
    Generation,
    Stage,
)

__all__ = [
    "ACTIVE_WHERE",
    "STATS_COLUMNS",
    "Artifact",
    "Base",
    "DeletedGeneration",
    "Event",
    "Generation",
    "IdempotencyKey",
    "JSONList",
    "Project",
    "Stage",
    "StoredInput",
    "UTCDateTime",
    "WebhookSecret",
    "utcnow",
]


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_projects_user_created", "user_id", "created_at", "id"),)


class IdempotencyKey(Base):
    """An `Idempotency-Key` a user sent, the hash of the request it came with and
    the generation it created (allocated before the workflow starts)."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    generation_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeletedGeneration(Base):
    """Tombstone: a deleted generation's workflow must not insert its row again. Its
    owner and creation time keep counting against the creates-per-minute limit."""

    __tablename__ = "deleted_generations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    deleted_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_deleted_generations_user_created", "user_id", "created_at"),)


class StoredInput(Base):
    """A request too large for a workflow input (Temporal's payload limit): the API
    stores its large fields here before starting the workflow, which reads them back
    when it inserts the row; the row's insert deletes this one."""

    __tablename__ = "generation_inputs"

    generation_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    prompt: Mapped[str] = mapped_column(Text)
    variables: Mapped[dict[str, Any]]
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookSecret(Base):
    """Each user's signing secret for webhook deliveries (Standard Webhooks)."""

    __tablename__ = "webhook_secrets"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The secret a rotation replaced; deliveries are signed with it too until then.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_expires_at: Mapped[datetime | None]
