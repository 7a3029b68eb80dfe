"""Keyset pagination and the list filters, shared by every listing of generations."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, true, type_coerce
from sqlalchemy.dialects.postgresql import JSONB

from genflow.db.models import Generation

T = TypeVar("T")


@dataclass(frozen=True)
class Cursor:
    """Where the previous page ended: (created_at, id) of its last item."""

    created_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        raw = f"{self.created_at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """Raises ValueError for anything that is not a cursor this service issued."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            created, ident = raw.split("|")
            created_at = datetime.fromisoformat(created)
            if created_at.tzinfo is None:
                raise ValueError("naive timestamp")
            return cls(created_at, uuid.UUID(ident))
        except (ValueError, UnicodeDecodeError) as err:
            raise ValueError("invalid cursor") from err


@dataclass(frozen=True)
class ListFilters:
    statuses: tuple[str, ...] = ()
    project_id: str | None = None
    parent_id: uuid.UUID | None = None
    # A whole iteration chain: the root itself and every generation iterated from it.
    root_id: uuid.UUID | None = None
    # Every generation iterated from this one, directly or not (not itself).
    descendants_of: uuid.UUID | None = None
    retry_of: uuid.UUID | None = None
    min_quality: float | None = None
    max_quality: float | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    tag: str | None = None
    q: str | None = None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _has_tag(tag: str, dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return type_coerce(Generation.tags, JSONB).contains([tag])  # @> : the GIN index
    each = func.json_each(Generation.tags).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == tag))


def _descendants(generation_id: uuid.UUID) -> Select[Any]:
    """The ids of the generations iterated from `generation_id`, at any depth (a
    recursive CTE over `parent_id`, served by `ix_generations_parent`)."""
    tree = select(Generation.id).where(Generation.parent_id == generation_id).cte(recursive=True)
    tree = tree.union_all(select(Generation.id).where(Generation.parent_id == tree.c.id))
    return select(tree.c.id)


def filtered(user_id: str, filters: ListFilters, dialect: str) -> Select[Any]:
    """SELECT of one user's generations matching `filters` (no order, no limit)."""
    query = select(Generation).where(Generation.user_id == user_id)
    conditions: list[ColumnElement[bool]] = []
    if filters.statuses:
        conditions.append(Generation.status.in_(filters.statuses))
    if filters.project_id is not None:
        conditions.append(Generation.project_id == filters.project_id)
    if filters.parent_id is not None:
        conditions.append(Generation.parent_id == filters.parent_id)
    if filters.root_id is not None:
        conditions.append(
            or_(Generation.root_id == filters.root_id, Generation.id == filters.root_id)
        )
    if filters.descendants_of is not None:
        conditions.append(Generation.id.in_(_descendants(filters.descendants_of)))
    if filters.retry_of is not None:
        conditions.append(Generation.retry_of == filters.retry_of)
    if filters.min_quality is not None:
        conditions.append(Generation.quality_score >= filters.min_quality)
    if filters.max_quality is not None:
        conditions.append(Generation.quality_score <= filters.max_quality)
    if filters.created_after is not None:
        conditions.append(Generation.created_at > filters.created_after)
    if filters.created_before is not None:
        conditions.append(Generation.created_at < filters.created_before)
    if filters.tag is not None:
        conditions.append(_has_tag(filters.tag, dialect))
    if filters.q:
        pattern = f"%{_escape_like(filters.q)}%"
        conditions.append(
            or_(
                Generation.title.ilike(pattern, escape="\\"),
                Generation.prompt.ilike(pattern, escape="\\"),
            )
        )
    return query.where(and_(true(), *conditions))


def keyset(query: Select[Any], created_at: Any, ident: Any, cursor: Cursor | None) -> Select[Any]:
    """Newest first by (created_at, id); strictly after `cursor`, so rows inserted
    meanwhile (newer) never shift the pages still to come."""
    if cursor is not None:
        query = query.where(
            or_(
                created_at < cursor.created_at,
                and_(created_at == cursor.created_at, ident < cursor.id),
            )
        )
    return query.order_by(created_at.desc(), ident.desc())


def page_after(query: Select[Any], cursor: Cursor | None) -> Select[Any]:
    return keyset(query, Generation.created_at, Generation.id, cursor)


def split_page(rows: list[T], limit: int) -> tuple[list[T], Cursor | None]:
    """The first `limit` of `limit + 1` fetched rows, and the cursor after them when
    there is a next page."""
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], Cursor(last.created_at, last.id)  # type: ignore[attr-defined]
