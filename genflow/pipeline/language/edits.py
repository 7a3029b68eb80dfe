"""The builtin requirements language, part 5b: the edits that readings make.

`EntityEdits` holds the entities one prompt changes and logs each change with the
sentence that asked for it: fields merged, references added, entities and fields removed
or renamed. An edit that cannot be made (an unknown entity, a field that is not there)
raises BadRequirements naming the sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from genflow.pipeline.language.field_names import field_name
from genflow.pipeline.language.sentences import entity_name, singular
from genflow.pipeline.spec import BadRequirements, EntitySpec, FieldSpec, snake


def resolve(phrase: str, names: Iterable[str]) -> str | None:
    """The one of `names` that `phrase` stands for (any case, singular or plural)."""
    by_key = {snake(name): name for name in names}
    for candidate in (phrase, entity_name(phrase)):
        found = by_key.get(snake(candidate))
        if found is not None:
            return found
    return None


class EntityEdits:
    """The entities one prompt changes, the edits that change them, and what changed."""

    def __init__(self, base: Sequence[EntitySpec]) -> None:
        self.entities = {entity.name: entity.model_copy(deep=True) for entity in base}
        self.known = {snake(name): name for name in self.entities}  # names fields may refer to
        self.fresh: set[str] = set()  # entities this prompt declared
        self._log: list[tuple[int, str]] = []  # (sentence number, change)
        self._number = 0  # the sentence being applied
        self.notes: list[str] = []  # what the spec has that the prompt did not say

    @property
    def changes(self) -> list[str]:
        """What changed, in the order of the sentences that asked for it."""
        return [change for _, change in sorted(self._log, key=lambda entry: entry[0])]

    def _changed(self, change: str) -> None:
        self._log.append((self._number, change))

    def _name(self, phrase: str) -> str:
        return resolve(phrase, self.known.values()) or entity_name(phrase)

    def _existing(self, phrase: str, where: str) -> str:
        found = resolve(phrase, self.entities)
        if found is None:
            raise BadRequirements(f"{where}: there is no entity {entity_name(phrase)}")
        return found

    def _field(self, entity: str | None, phrase: str, where: str) -> tuple[str, str]:
        """The entity and the name of the field `phrase` names; without an entity, the
        one entity that has such a field."""
        wanted = field_name(phrase)
        names = (wanted, singular(wanted))
        owners = [self._existing(entity, where)] if entity else list(self.entities)
        found = [
            (owner, f.name)
            for owner in owners
            for f in self.entities[owner].fields
            if f.name in names
        ]
        if len(found) == 1:
            return found[0]
        if not found:
            place = f" {owners[0]}" if entity else " entity"
            raise BadRequirements(f"{where}: no{place} has a field {wanted}")
        which = " and ".join(owner for owner, _ in found)
        raise BadRequirements(f"{where}: {which} both have {wanted}; say which, e.g. {wanted} of X")

    def _entity_or_field(self, phrase: str, where: str) -> tuple[str, str]:
        """The field a bare phrase names, for a sentence that could name either."""
        names = {field_name(phrase), singular(field_name(phrase))}
        if not any(f.name in names for e in self.entities.values() for f in e.fields):
            raise BadRequirements(f"{where}: there is no entity or field {phrase}")
        return self._field(None, phrase, where)

    def _merge(self, name: str, fields: list[FieldSpec], explicit: set[str]) -> None:
        current = {f.name: f for f in self.entities[name].fields}
        for field in fields:
            old = current.get(field.name)
            if old == field or (old is not None and field.name not in explicit):
                continue  # already so, or named again without options: keep it
            self._changed(f"{'changed' if old else 'added'} field {name}.{field.name}")
            current[field.name] = field
        self.entities[name].fields = list(current.values())

    def _relate(self, owner: str, targets: list[str], required: bool) -> None:
        fields = [FieldSpec(name=snake(t), type="ref", ref=t, required=required) for t in targets]
        self._merge(owner, fields, {f.name for f in fields})

    def _remove(self, where: str, target: str) -> None:
        target = re.sub(r"\s+(?:entity|model|table|resource|class)$", "", target, flags=re.I)
        target = re.sub(r"^(?:the|a|an|all|every|each)\s+", "", target, flags=re.I)
        name = resolve(target, self.entities)
        if name is None:
            self._remove_field(where, *self._entity_or_field(target, where))
            return
        del self.entities[name]
        self._changed(f"removed entity {name}")
        for entity in self.entities.values():
            for field in [f for f in entity.fields if f.ref == name]:
                self._remove_field(where, entity.name, field.name)

    def _remove_field(self, where: str, owner: str, name: str) -> None:
        entity = self.entities[owner]
        entity.fields = [f for f in entity.fields if f.name != name]
        if not entity.fields:
            raise BadRequirements(f"{where}: {owner} would have no fields left")
        self._changed(f"removed field {owner}.{name}")

    def _rename(self, where: str, entity: str, field: str | None, new: str) -> None:
        old = resolve(entity, self.entities) if field is None else None
        if old is not None:
            renamed = entity_name(new)
            if not renamed.isidentifier() or renamed in self.entities:
                raise BadRequirements(f"{where}: cannot rename {old} to {renamed}")
            self.entities[renamed] = self.entities.pop(old)
            self.entities[renamed].name = renamed
            for each in self.entities.values():
                for item in each.fields:
                    item.ref = renamed if item.ref == old else item.ref
            self.known[snake(renamed)] = renamed
            self._changed(f"renamed entity {old} to {renamed}")
            return
        owner, name = (
            self._field(entity, field, where) if field else self._entity_or_field(entity, where)
        )
        renamed = field_name(new)
        fields = self.entities[owner].fields
        if not renamed.isidentifier() or any(f.name == renamed for f in fields):
            raise BadRequirements(f"{where}: cannot rename {owner}.{name} to {renamed}")
        next(f for f in fields if f.name == name).name = renamed
        self._changed(f"renamed field {owner}.{name} to {renamed}")
