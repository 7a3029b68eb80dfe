"""The builtin requirements language, part 5: readings applied to a spec.

Sentences that declare a new entity are applied first, so a relation or a field may name
an entity declared later in the prompt; the others are applied in their order. A
sentence that cannot be applied (an unknown entity, a field that is not there, a
contradiction) fails the whole request, naming the sentence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from genflow.pipeline.language.edits import EntityEdits, resolve
from genflow.pipeline.language.fields import read_field
from genflow.pipeline.language.options import apply_options
from genflow.pipeline.language.sentences import Sentence, entity_name, singular
from genflow.pipeline.language.shapes import (
    AddFields,
    ChangeField,
    Declare,
    HasMany,
    Link,
    Reading,
    Relate,
    Remove,
    RemoveFields,
    Rename,
)
from genflow.pipeline.language.token_shapes import Acts, Records
from genflow.pipeline.language.words import STOP_WORDS
from genflow.pipeline.spec import BadRequirements, EntitySpec, FieldSpec, snake

_MANY_ITEM = re.compile(r"^(?:many|multiple|several|a list of|lots of)\s+(?P<child>.+)$", re.I)


class Draft(EntityEdits):
    """Entities being changed by one prompt's sentences, with what changed: each reading
    becomes the edits of `EntityEdits`."""

    def apply_all(self, readings: Sequence[tuple[Sentence, Reading | Records | Acts]]) -> None:
        """Apply every reading: first those declaring a new entity, then the others in
        their order ("E has ... many E2" becomes a declaration and an E2 -> E relation)."""
        declaring: list[tuple[Sentence, Reading]] = []
        others: list[tuple[Sentence, Reading]] = []
        for sentence, reading in self._expand(readings):
            related: list[tuple[Sentence, Reading]] = []
            if isinstance(reading, Declare):
                many = [m["child"] for i in reading.items if (m := _MANY_ITEM.match(i))]
                related = [(sentence, HasMany(reading.entity, child)) for child in many]
                items = [i for i in reading.items if not _MANY_ITEM.match(i)]
                reading = Declare(reading.entity, items, reading.additive)
            name = self._name(reading.entity) if isinstance(reading, Declare | Link) else None
            if name is not None and name not in self.entities:
                declaring.append((sentence, reading))
                self.known[snake(name)] = name
            else:
                others.append((sentence, reading))
            others += related
        for sentence, reading in [*declaring, *others]:
            self.apply(sentence, reading)

    def _expand(
        self, readings: Sequence[tuple[Sentence, Reading | Records | Acts]]
    ) -> list[tuple[Sentence, Reading]]:
        """Records and Acts as the plain readings they stand for: a declaration per
        record; for "teachers run classes with F" a Class declared with F and a
        reference from Class to Teacher (Teacher, if described nowhere, gets a name)."""
        out: list[tuple[Sentence, Reading]] = []
        declared = {
            snake(self._name(r.entity)) for _, r in readings if isinstance(r, Declare | Link)
        } | {
            snake(self._name(e))
            for _, r in readings
            if isinstance(r, Records)
            for e, _ in r.entities
        }
        declared |= {
            snake(self._name(r.obj)) for _, r in readings if isinstance(r, Acts) and r.items
        }
        declared |= set(self.known)
        for sentence, reading in readings:
            if isinstance(reading, Declare):
                # "Each project contains tasks": a plural item naming an entity of the
                # prompt is a relation, not a text field.
                many = [i for i in reading.items if self._names_many(i, declared)]
                out += [(sentence, HasMany(reading.entity, child)) for child in many]
                items = [i for i in reading.items if i not in many]
                if items or not many:
                    out.append((sentence, Declare(reading.entity, items, reading.additive)))
            elif isinstance(reading, Records):
                out += [(sentence, Declare(e, items)) for e, items in reading.entities]
            elif isinstance(reading, Acts):
                if reading.items:
                    out.append((sentence, Declare(reading.obj, reading.items, additive=True)))
                for other in (reading.subject, reading.about):
                    if other is None:
                        continue
                    out += self._described(sentence, other, declared)
                    if reading.subject_refers and other == reading.subject:
                        continue
                    out.append((sentence, Relate(reading.obj, [other], False)))
                if snake(self._name(reading.obj)) not in declared:
                    out += self._described(sentence, reading.obj, declared)
                if reading.subject_refers and reading.subject is not None:
                    out.append((sentence, Relate(reading.subject, [reading.obj], False)))
            elif isinstance(reading, Link):
                for side in (reading.left, reading.right):
                    out += self._described(sentence, side, declared)
                out.append((sentence, reading))
            else:
                out.append((sentence, reading))
        return out

    def _names_many(self, item: str, declared: set[str]) -> bool:
        """Whether a field item is a bare plural naming an entity: "tasks", "its tasks"."""
        words = re.sub(r"^(?:its|their|his|her|the|some|any)\s+", "", item.strip(), flags=re.I)
        if not re.fullmatch(r"[A-Za-z][\w-]*", words) or singular(words) == words:
            return False
        return snake(entity_name(words)) in declared

    def _described(
        self, sentence: Sentence, phrase: str, declared: set[str]
    ) -> list[tuple[Sentence, Reading]]:
        """A Declare for an entity the prompt names but describes nowhere: it gets a
        required name, and a note says so."""
        name = self._name(phrase)
        if snake(name) in declared:
            return []
        declared.add(snake(name))
        self.notes.append(
            f"{name} is named in {sentence.where} but not described: it has a name only"
        )
        return [(sentence, Declare(phrase, ["name (text, required)"]))]

    def _read_fields(
        self, items: list[str], where: str, plural: bool = False
    ) -> tuple[list[FieldSpec], set[str]]:
        read_fields = [read_field(item, where, self.known, plural) for item in items]
        fields, seen = [r.spec for r in read_fields], set()
        for field in fields:
            if field.name in seen:
                raise BadRequirements(f'{where}: field "{field.name}" is repeated')
            seen.add(field.name)
        return fields, {r.spec.name for r in read_fields if r.explicit}

    def _declare(
        self,
        sentence: Sentence,
        name: str,
        refs: list[FieldSpec],
        items: list[str],
        additive: bool,
        plural: bool = False,
    ) -> None:
        where = sentence.where
        fields, explicit = self._read_fields(items, where, plural)
        fields = refs + fields
        if not name.isidentifier() or name.lower() in STOP_WORDS:
            raise BadRequirements(f'{where}: "{name}" cannot be an entity name')
        if name not in self.entities:
            if not fields:
                raise BadRequirements(
                    f'{where}: {name} needs at least one field, e.g. "{name} has name."'
                )
            self.entities[name] = EntitySpec(name=name, fields=fields)
            self.fresh.add(name)
            self._changed(f"added entity {name}")
        elif name in self.fresh and not additive:
            # "Cat has a name. Cat has an age.": a second sentence adds to it, but may not
            # say another thing of a field the first one declared.
            current = {f.name: f for f in self.entities[name].fields}
            clash = [f.name for f in fields if f.name in current and current[f.name] != f]
            if clash:
                raise BadRequirements(
                    f"{where}: {name}.{clash[0]} is declared twice, differently; to change "
                    f'it say "Make {clash[0]} of {name} ..."'
                )
            self._merge(name, fields, explicit | {f.name for f in refs})
        else:
            self._merge(name, fields, explicit | {f.name for f in refs})

    def apply(self, sentence: Sentence, reading: Reading) -> None:
        where, self._number = sentence.where, sentence.number
        match reading:
            case Declare(entity, items, additive):
                last = entity.split()[-1] if entity.split() else entity
                plural = singular(last) != last  # "students have names": a name each
                self._declare(sentence, self._name(entity), [], items, additive, plural)
            case Link(entity, left, right, items, additive):
                refs = []
                for side in (left, right):
                    target = resolve(side, self.known.values())
                    if target is None:
                        raise BadRequirements(
                            f"{where}: {entity_name(side)} is not an entity described anywhere"
                        )
                    refs.append(
                        FieldSpec(name=snake(target), type="ref", ref=target, required=True)
                    )
                if refs[0].name == refs[1].name:
                    raise BadRequirements(f"{where}: a link needs two different entities")
                self._declare(sentence, self._name(entity), refs, items, additive)
            case Relate(owner, targets, required):
                found = [self._existing(t, where) for t in targets]
                self._relate(self._existing(owner, where), found, required)
            case HasMany(parent, child):
                owner = self._existing(child, where)
                self._relate(owner, [self._existing(parent, where)], required=False)
            case AddFields(entity, items):
                name = self._existing(entity, where)
                fields, explicit = self._read_fields(items, where)
                self._merge(name, fields, explicit | {f.name for f in fields})
            case Remove(target):
                self._remove(where, target)
            case RemoveFields(entity, items):
                for item in items:
                    self._remove_field(where, *self._field(entity, item, where))
            case Rename(entity, field, new):
                self._rename(where, entity, field, new)
            case ChangeField(entity, field, options):
                owner, name = self._field(entity, field, where)
                current = next(f for f in self.entities[owner].fields if f.name == name)
                changed = current.model_copy(deep=True)
                apply_options(changed, options, where, self.known)
                self._merge(owner, [changed], {name})
