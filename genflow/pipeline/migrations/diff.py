"""The operations of one migration: from the tables of one spec to those of the next, as
the lines of its `upgrade` (and, swapped, of its `downgrade`).

In order: renamed tables are renamed, new tables created (each after those it
references), kept tables altered, gone tables dropped (each before those it references).
A kept table is altered in up to two batches with UPDATEs between them: the first drops
constraints, renames, retypes, drops and adds columns; the UPDATEs give old rows a value
in a column that becomes required; the second makes it NOT NULL and adds constraints.
"""

from __future__ import annotations

import json

from genflow.pipeline.migrations.ops import Call, Column, Node, Table, Text, render

Renames = dict[tuple[str, str], str]  # (entity, field) -> new field name


def creation_order(tables: list[Table]) -> tuple[list[Table], set[tuple[str, str]]]:
    """`tables` so that each comes after those of them it references, and the references
    (table, column) that close a circle: those are made once every table is there."""
    by_name = {table.name: table for table in tables}
    ordered: list[Table] = []
    deferred: set[tuple[str, str]] = set()
    state: dict[str, bool] = {}  # table -> done (False: being visited)

    def visit(table: Table) -> None:
        state[table.name] = False
        for column in table.columns.values():
            target = column.target
            if target is None or target == table.name or target not in by_name:
                continue
            if state.get(target) is False:
                deferred.add((table.name, column.name))
            elif target not in state:
                visit(by_name[target])
        state[table.name] = True
        ordered.append(table)

    for table in tables:
        if table.name not in state:
            visit(table)
    return ordered, deferred


def _kw(name: str, node: Node) -> Node:
    """`name=node` as an argument."""
    if isinstance(node, Call):
        return Call(f"{name}={node.head}", node.args)
    return f"{name}={node if isinstance(node, str) else json.dumps(node.value)}"


def _name(name: str) -> Call:
    """A constraint's name as the models' naming convention makes it: `op.f`, so that
    PostgreSQL cuts a name past 63 characters the same way for both."""
    return Call("op.f", (Text(name),))


def _fk(table: str, column: Column) -> Call:
    target = column.target or ""
    args = (_name(column.fk(table)), Text(target), f'["{column.name}"]', '["id"]')
    return Call("batch_op.create_foreign_key", args)


def _drop(name: str, kind: str) -> Call:
    return Call("batch_op.drop_constraint", (_name(name), f'type_="{kind}"'))


def _batch(table: str, ops: list[Node]) -> list[str]:
    if not ops:
        return []
    # Constraints reflected without a name (a table made before migrations, on SQLite) get
    # the one the models' naming convention gives, so they can be dropped by it.
    head = Call("with op.batch_alter_table", (Text(table), "naming_convention=NAMING"))
    lines = render(head, 4, " as batch_op:")
    for op in ops:
        lines += render(op, 8)
    return lines


def _create(table: Table, deferred: set[tuple[str, str]]) -> Call:
    args: list[Node] = [Text(table.name), 'sa.Column("id", sa.Integer(), nullable=False)']
    args += [column.node() for column in table.columns.values()]
    args.append('sa.PrimaryKeyConstraint("id")')
    for column in table.columns.values():
        if column.target and (table.name, column.name) not in deferred:
            name = _kw("name", _name(column.fk(table.name)))
            fk = (f'["{column.name}"]', f'["{column.target}.id"]', name)
            args.append(Call("sa.ForeignKeyConstraint", fk))
        if column.unique:
            name = _kw("name", _name(column.uq(table.name)))
            args.append(Call("sa.UniqueConstraint", (Text(column.name), name)))
    return Call("op.create_table", tuple(args))


def _fill(table: str, column: Column) -> list[str]:
    """An UPDATE giving the rows without a value in `column` the one old rows get."""
    name = json.dumps(column.name)
    sql = f'UPDATE "{table}" SET {name} = {column.fill_sql} WHERE {name} IS NULL'
    return render(Call("op.execute", (Text(sql),)), 4)


def _alter(old: Table, new: Table, names: dict[str, str], tables: dict[str, str]) -> list[str]:
    """The batches (and UPDATEs) turning `old` into `new`; `names` maps each old column to
    its name in `new`, `tables` each old table name to its new one."""
    first: list[Node] = []
    second: list[Node] = []
    updates: list[str] = []
    kept = {was: name for was, name in names.items() if name in new.columns}
    for was, name in kept.items():
        before, after = old.columns[was], new.columns[name]
        moved = old.name != new.name or was != name  # constraint names change with it
        target = tables.get(before.target, before.target) if before.target else None
        if before.unique and (moved or not after.unique):
            first.append(_drop(before.uq(old.name), "unique"))
        if before.target and (moved or after.target != target):
            first.append(_drop(before.fk(old.name), "foreignkey"))
        change: list[Node] = []
        if was != name:
            change.append(f"new_column_name={json.dumps(name)}")
        if (before.sql_type, before.choices) != (after.sql_type, after.choices):
            change.append(_kw("type_", after.type))
            change.append(_kw("postgresql_using", Text(f'"{was}"::{after.sql_type}')))
        if after.nullable and not before.nullable:
            change.append("nullable=True")
        if change:
            head = (Text(was), _kw("existing_type", before.type))
            tail = (f"existing_nullable={before.nullable}",)
            first.append(Call("batch_op.alter_column", (*head, *change, *tail)))
        if before.nullable and not after.nullable:
            updates += _fill(new.name, after)
            second.append(_required(after))
        if after.unique and (moved or not before.unique):
            second.append(_unique(new.name, after))
        if after.target and (moved or after.target != target):
            second.append(_fk(new.name, after))
    for was in old.columns:
        if was not in kept:
            first.append(Call("batch_op.drop_column", (Text(was),)))
    for name, column in new.columns.items():
        if name in kept.values():
            continue
        if column.nullable:
            first.append(Call("batch_op.add_column", (column.node(),)))
        elif column.fills_by_row:
            first.append(Call("batch_op.add_column", (column.node(nullable=True),)))
            updates += _fill(new.name, column)
            second.append(_required(column))
        else:  # old rows take the server default
            first.append(Call("batch_op.add_column", (column.node(default=True),)))
        if column.unique:
            second.append(_unique(new.name, column))
        if column.target:
            second.append(_fk(new.name, column))
    return [*_batch(new.name, first), *updates, *_batch(new.name, second)]


def _required(column: Column) -> Call:
    args = (Text(column.name), _kw("existing_type", column.type), "nullable=False")
    return Call("batch_op.alter_column", args)


def _unique(table: str, column: Column) -> Call:
    args = (_name(column.uq(table)), f'["{column.name}"]')
    return Call("batch_op.create_unique_constraint", args)


def steps(
    old: dict[str, Table], new: dict[str, Table], entities: dict[str, str], fields: Renames
) -> list[str]:
    """The lines of a migration function turning the tables `old` into `new` (both by
    entity name): `entities` maps a renamed entity's old name to its new one, `fields` a
    renamed field (old entity, old name) to its new name; their data is kept."""
    matched = {was: entities.get(was, was) for was in old if entities.get(was, was) in new}
    lines: list[str] = []
    tables = {old[was].name: new[name].name for was, name in matched.items()}
    for was, name in tables.items():
        if was != name:
            lines += render(Call("op.rename_table", (Text(was), Text(name))), 4)
    created, deferred = creation_order([t for e, t in new.items() if e not in matched.values()])
    for table in created:
        lines += render(_create(table, deferred), 4)
    for table_name, column_name in sorted(deferred):
        column = next(t for t in created if t.name == table_name).columns[column_name]
        lines += _batch(table_name, [_fk(table_name, column)])
    was_of = {name: was for was, name in matched.items()}
    for name, table in new.items():
        if name in was_of:
            was = was_of[name]
            names = {column: fields.get((was, column), column) for column in old[was].columns}
            lines += _alter(old[was], table, names, tables)
    dropped, deferred = creation_order([t for e, t in old.items() if e not in matched])
    for table_name, column_name in sorted(deferred):
        column = next(t for t in dropped if t.name == table_name).columns[column_name]
        lines += _batch(table_name, [_drop(column.fk(table_name), "foreignkey")])
    for table in reversed(dropped):
        lines += render(Call("op.drop_table", (Text(table.name),)), 4)
    return lines
