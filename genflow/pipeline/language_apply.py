"""The builtin requirements language, part 4: readings applied to a spec.

Every sentence is used (it declares, relates, adds, changes, renames or removes
something), is the project's description, or is reported: it goes to
`ProjectSpec.not_understood`. Sentences that declare a new entity are applied first, so
a relation or a field may name an entity declared later in the prompt; the others are
applied in their order. A sentence that cannot be applied (an unknown entity, a field
that is not there, a contradiction) fails the whole request, naming the sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from genflow.pipeline.language import (
    Sentence,
    entity_name,
    looks_like_title,
    plain,
    read_intro,
    singular,
    split_sentences,
)
from genflow.pipeline.language_clauses import (
    VERBS,
    Acts,
    Records,
    acts,
    clauses,
    lead_in,
    records,
    rewrite,
    verb_base,
)
from genflow.pipeline.language_fields import (
    STOP_WORDS,
    apply_options,
    field_name,
    read_field,
)
from genflow.pipeline.language_shapes import (
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
    read,
)
from genflow.pipeline.spec import BadRequirements, EntitySpec, FieldSpec, snake

_MANY_ITEM = re.compile(r"^(?:many|multiple|several|a list of|lots of)\s+(?P<child>.+)$", re.I)


def resolve(phrase: str, names: Iterable[str]) -> str | None:
    """The one of `names` that `phrase` stands for (any case, singular or plural)."""
    by_key = {snake(name): name for name in names}
    for candidate in (phrase, entity_name(phrase)):
        found = by_key.get(snake(candidate))
        if found is not None:
            return found
    return None


class Draft:
    """Entities being changed by one prompt's sentences, with what changed."""

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

    def _relate(self, owner: str, targets: list[str], required: bool) -> None:
        fields = [FieldSpec(name=snake(t), type="ref", ref=t, required=required) for t in targets]
        self._merge(owner, fields, {f.name for f in fields})

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


def read_sentences(
    prompt: str, introduced: bool
) -> tuple[
    list[tuple[Sentence, Reading | Records | Acts]],
    list[Sentence],
    tuple[str, str | None] | None,
]:
    """The readings of `prompt`'s sentences, those not understood, and (if `introduced`:
    a first generation) the project's description and name as written."""
    readings: list[tuple[Sentence, Reading | Records | Acts]] = []
    unread: list[Sentence] = []
    description: tuple[str, str | None] | None = None
    last: list[str] = []  # the entity phrase declared last: what "it" stands for
    for sentence in split_sentences(prompt):
        first = introduced and sentence.number == 1
        found = _read_intro(sentence.text, last) if first else None
        if found is not None:
            description, read_clause = found
            readings += [(sentence, r) for r in read_clause or []]
            if read_clause is None:
                unread.append(sentence)
            continue
        read_text = read_text_of(sentence.text, last)
        if read_text is None and not first:
            # "It's a rental service where bikes have ...": an introduction later on
            intro = read_intro(sentence.text)
            if intro is not None and intro.clause:
                read_text = read_text_of(intro.clause, last)
        if read_text is not None:
            readings += [(sentence, r) for r in read_text]
        elif first and looks_like_title(sentence.text):
            description = (sentence.text, None)
        else:
            unread.append(sentence)
    return readings, unread, description


def _read_intro(
    text: str, last: list[str]
) -> tuple[tuple[str, str | None], list[Reading | Records | Acts] | None] | None:
    """The first sentence as the project's introduction, with what its clause says
    (None: a clause that must be read and was not), or None if it is none."""
    head, colon, tail = _dash_as_colon(text).partition(":")
    if colon and tail.strip() and len(head.split()) <= 8 and lead_in(text) is None:
        clause = read_text_of(tail, last)
        intro = read_intro(head)
        if clause is not None and (intro is not None or read_text_of(head, []) is None):
            return (head.strip(), intro.name if intro else None), clause
    intro = read_intro(text)
    if intro is None:
        return None
    if not intro.clause:
        return (text, intro.name), []
    clause = read_text_of(intro.clause, last)
    if clause is None:
        # "An app for a school where students have ...": what follows the inner "where"
        inner = re.split(r"\s(?:where|in which)\s", intro.clause, maxsplit=1, flags=re.I)
        clause = read_text_of(inner[1], last) if len(inner) == 2 else None
    if clause is None and not intro.must_read:
        clause = []
    return (text, intro.name), clause


def _dash_as_colon(text: str) -> str:
    """ "Track my books - each book has ...": a dash between words is a colon."""
    return text if ":" in text else re.sub(r"\s+[-\u2013\u2014]\s+", ": ", text, count=1)


def _has_verb(phrase: str) -> bool:
    """Whether an entity phrase of several words holds a verb: "coaches train athletes"."""
    words = phrase.lower().split()
    return len(words) > 1 and any(verb_base(w) in VERBS for w in words[1:-1] + words[-1:])


def read_text_of(text: str, last: list[str]) -> list[Reading | Records | Acts] | None:
    """The readings of one sentence: a lead-in goes, the sentence is said plainly and cut
    into clauses; None if a clause has no known shape."""
    if found := lead_in(_dash_as_colon(text)):
        text = found[1]
    plain_text, additive = plain(text)
    plain_text = rewrite(plain_text)
    out: list[Reading | Records | Acts] = []
    for part in clauses(plain_text, last[-1] if last else None):
        reading: Reading | Records | Acts | None = read(part, additive)
        if isinstance(reading, Declare) and _has_verb(reading.entity):
            reading = acts(part) or reading  # "coaches train athletes with F"
        reading = reading or records(part) or acts(part)
        if reading is None:
            return None
        out.append(reading)
        if isinstance(reading, Declare):
            last.append(reading.entity)
        elif isinstance(reading, Records):
            last.append(reading.entities[-1][0])
        elif isinstance(reading, Acts):
            last.append(reading.obj)
    return out or None
