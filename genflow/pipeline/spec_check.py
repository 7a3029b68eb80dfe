"""Checking a spec that did not come from the builtin language (a model's), and
describing what changed between two specs in the builtin provider's wording."""

from __future__ import annotations

import re

from genflow.pipeline.spec import BadRequirements, ProjectSpec, dependency_order

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def spec_problems(spec: ProjectSpec) -> list[str]:
    """What makes a schema-valid spec unusable: bad names, dangling references, enums
    without choices, a circle of required references."""
    problems: list[str] = []
    names = {entity.name for entity in spec.entities}
    declared: set[str] = set()
    for entity in spec.entities:
        if not _IDENTIFIER.match(entity.name):
            problems.append(f"entity name {entity.name!r} is not a Python identifier")
        if entity.name in declared:
            problems.append(f"entity {entity.name} is declared more than once")
        declared.add(entity.name)
        seen: set[str] = set()
        for item in entity.fields:
            where = f"{entity.name}.{item.name}"
            if not _IDENTIFIER.match(item.name):
                problems.append(f"field name {where!r} is not a Python identifier")
            if item.name in seen:
                problems.append(f"field {where} is declared more than once")
            seen.add(item.name)
            if item.type == "ref" and item.ref not in names:
                problems.append(f"field {where} refers to {item.ref!r}, which is no entity")
            if item.type == "enum" and len(item.choices) < 2:
                problems.append(f"enum field {where} needs at least two choices")
            bounded = item.minimum is not None or item.maximum is not None
            if bounded and item.type not in ("int", "float", "decimal"):
                problems.append(f"field {where} has bounds but is no number")
            if (
                item.minimum is not None
                and item.maximum is not None
                and item.minimum > item.maximum
            ):
                problems.append(f"field {where} has a minimum above its maximum")
    if not problems:
        try:
            dependency_order(spec)
        except BadRequirements as err:
            problems.append(str(err))
    return problems


def spec_changes(base: ProjectSpec, new: ProjectSpec) -> list[str]:
    """A readable list of what changed from `base` to `new`, entity by entity and field
    by field, in the builtin provider's wording."""
    changes: list[str] = []
    before = {entity.name: entity for entity in base.entities}
    after = {entity.name: entity for entity in new.entities}
    for name in before:
        if name not in after:
            changes.append(f"removed entity {name}")
    for name, entity in after.items():
        if name not in before:
            changes.append(f"added entity {name}")
            continue
        old_fields = {f.name: f for f in before[name].fields}
        new_fields = {f.name: f for f in entity.fields}
        for field_name in old_fields:
            if field_name not in new_fields:
                changes.append(f"removed field {name}.{field_name}")
        for field_name, spec_field in new_fields.items():
            if field_name not in old_fields:
                changes.append(f"added field {name}.{field_name}")
            elif spec_field != old_fields[field_name]:
                changes.append(f"changed field {name}.{field_name}")
    return changes
