"""Creating a generation: its row, stages and first event, inserted once by the API or
by its workflow (whichever comes first), and the large input kept for its workflow.
Each method is one transaction."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, delete, exists, func, insert, select, union_all
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from genflow.contracts import GenerationInput
from genflow.db.base import SessionOwner
from genflow.db.models import DeletedGeneration, Event, Generation, Stage, StoredInput
from genflow.db.new_generation import NewGeneration, NewRows, new_generation_values
from genflow.domain import STAGES

# The tables of the core inserts below.
GENERATION_TABLE = cast(Table, Generation.__table__)
STAGE_TABLE = cast(Table, Stage.__table__)
EVENT_TABLE = cast(Table, Event.__table__)
# Whether a generation's row, tombstone or stored input exists (built once).
_PRESENT = select(
    exists().where(Generation.id == bindparam("generation_id")),
    exists().where(DeletedGeneration.id == bindparam("generation_id")),
    exists().where(StoredInput.generation_id == bindparam("generation_id")),
)


def _columns(table: Table, prefix: str, names: list[str]) -> list[Any]:
    """`names` of `table` as typed parameters `<prefix><name>`, for a SELECT list."""
    return [bindparam(prefix + name, type_=table.c[name].type).label(name) for name in names]


def _insert_in_one_statement() -> Select[Any]:
    """The row, its stages and its first event in one PostgreSQL statement (one round
    trip, no transaction to begin or commit): the row unless it exists or was deleted,
    the rest only if the row was, and the stored input dropped once the row holds it.
    Its parameters come from `_one_statement_parameters`; it counts the rows inserted."""
    rows = new_generation_values(NewGeneration(id=uuid.uuid4(), user_id="", prompt="", provider=""))
    generation_id = bindparam("g_id", type_=GENERATION_TABLE.c.id.type)
    generation = select(*_columns(GENERATION_TABLE, "g_", list(rows.generation))).where(
        ~exists().where(DeletedGeneration.id == generation_id)
    )
    inserted = (
        postgresql.insert(GENERATION_TABLE)
        .from_select(list(rows.generation), generation)
        .on_conflict_do_nothing(index_elements=[GENERATION_TABLE.c.id])
        .returning(GENERATION_TABLE.c.id)
        .cte("inserted")
    )

    def from_inserted(table: Table, prefix: str, values: dict[str, Any]) -> Select[Any]:
        names = [name for name in values if name != "generation_id"]
        return select(inserted.c.id.label("generation_id"), *_columns(table, prefix, names))

    stage_names = list(rows.stages[0])
    stages = union_all(
        *(from_inserted(STAGE_TABLE, f"s{i}_", rows.stages[i]) for i in range(len(STAGES)))
    )
    event_names = list(rows.first_event)
    return (
        select(func.count())
        .select_from(inserted)
        .add_cte(
            insert(STAGE_TABLE)
            .from_select(
                ["generation_id", *(n for n in stage_names if n != "generation_id")], stages
            )
            .cte("stages"),
            insert(EVENT_TABLE)
            .from_select(
                ["generation_id", *(n for n in event_names if n != "generation_id")],
                from_inserted(EVENT_TABLE, "e_", rows.first_event),
            )
            .cte("event"),
            delete(StoredInput)
            .where(StoredInput.generation_id.in_(select(inserted.c.id)))
            .cte("stored"),
        )
    )


def _one_statement_parameters(rows: NewRows) -> dict[str, Any]:
    parameters = {f"g_{name}": value for name, value in rows.generation.items()}
    for i, stage in enumerate(rows.stages):
        parameters.update((f"s{i}_{name}", value) for name, value in stage.items())
    parameters.update((f"e_{name}", value) for name, value in rows.first_event.items())
    return parameters


_INSERT_IN_ONE_STATEMENT = _insert_in_one_statement()


class GenerationCreation(SessionOwner):
    def __init__(self, session_maker: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(session_maker)
        engine: AsyncEngine = session_maker.kw["bind"]
        # PostgreSQL inserts a generation in one statement, which is atomic by itself.
        self._autocommit = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if self._dialect == "postgresql"
            else None
        )

    async def insert_generation(self, new: NewGeneration) -> bool:
        """Insert the row, its stages and the first `status` event unless the row
        exists (or was deleted). Returns whether this call inserted it; safe to race
        with itself. This is every create's path: one statement on PostgreSQL, core
        statements in one transaction on SQLite (which has no INSERT in a WITH)."""
        values = new_generation_values(new)
        if self._autocommit is not None:
            async with self._autocommit.connect() as connection:
                result = await connection.execute(
                    _INSERT_IN_ONE_STATEMENT, _one_statement_parameters(values)
                )
            return bool(result.scalar_one())
        try:
            async with self._sessions.begin() as session:
                found = await session.execute(_PRESENT, {"generation_id": new.id})
                inserted, deleted, stored = found.one()
                if inserted or deleted:
                    return False  # there, or deleted by its user before the workflow got here
                await session.execute(insert(GENERATION_TABLE), [values.generation])
                await session.execute(insert(STAGE_TABLE), values.stages)
                await session.execute(insert(EVENT_TABLE), [values.first_event])
                if stored:  # the large input kept for the workflow: the row has it now
                    await session.execute(
                        delete(StoredInput).where(StoredInput.generation_id == new.id)
                    )
        except IntegrityError:
            return False  # the other writer (API or workflow) inserted it first
        return True

    async def store_input(self, new: NewGeneration) -> None:
        """Keep a large request's prompt, variables and metadata for its workflow
        (whose input then leaves them out); idempotent."""
        async with self._sessions.begin() as session:
            if await session.get(StoredInput, new.id) is None:
                session.add(
                    StoredInput(
                        generation_id=new.id,
                        prompt=new.prompt,
                        variables=new.variables,
                        meta=new.metadata,
                    )
                )

    async def insert_from_workflow_input(self, input: GenerationInput) -> uuid.UUID:
        """Insert the row from its workflow's input, unless it exists (the API may have
        died after starting the workflow), with a large request's kept fields; its id."""
        new = NewGeneration.from_workflow_input(input)
        if input.stored_input:
            new = await self.with_stored_input(new)
        await self.insert_generation(new)
        return new.id

    async def with_stored_input(self, new: NewGeneration) -> NewGeneration:
        """`new` with the fields `store_input` kept (unchanged if none are kept)."""
        async with self._sessions() as session:
            stored = await session.get(StoredInput, new.id)
        if stored is None:
            return new
        return replace(new, prompt=stored.prompt, variables=stored.variables, metadata=stored.meta)
