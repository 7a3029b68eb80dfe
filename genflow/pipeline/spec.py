"""`ProjectSpec`: what a generation builds, and the entry points of the builtin
requirements language (`parse_requirements`, `extend_requirements`).

The language itself lives in the `genflow.pipeline.language.sentences*` modules, numbered as parts
in their docstrings: sentences and their shapes, fields and their options, how a prompt
is read, and readings applied to a spec. Every sentence of a
prompt is used or reported: those the language cannot read are listed in
`ProjectSpec.not_understood`; a request that yields nothing fails with BadRequirements
quoting them.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from genflow.domain import DEFAULT_TEMPLATE, TEMPLATES

FieldType = Literal["str", "int", "float", "decimal", "bool", "date", "datetime", "enum", "ref"]

TYPE_WORDS: dict[str, FieldType] = {
    "text": "str",
    "string": "str",
    "str": "str",
    "integer": "int",
    "int": "int",
    "number": "int",
    "float": "float",
    "decimal": "decimal",
    "money": "decimal",
    "boolean": "bool",
    "bool": "bool",
    "flag": "bool",
    "date": "date",
    "datetime": "datetime",
    "timestamp": "datetime",
}

_EXAMPLE = '"Book has title (text, required), year (integer) and isbn (text, unique)."'
_QUOTED_AT_MOST = 10  # sentences an error message quotes


class BadRequirements(ValueError):
    """Requirements the builtin provider cannot read; never worth a retry."""


class FieldSpec(BaseModel):
    name: str
    type: FieldType = "str"
    required: bool = False
    unique: bool = False
    choices: list[str] = Field(default_factory=list, description="for type enum")
    ref: str | None = Field(default=None, description="the entity a ref field points to")
    minimum: float | None = Field(
        default=None, description="for int, float and decimal: the smallest value allowed"
    )
    maximum: float | None = Field(
        default=None, description="for int, float and decimal: the largest value allowed"
    )
    label: str | None = Field(
        default=None,
        description="the words the request used for the field, when its name differs "
        '(a reserved word made safe: "class" is class_, or words left out of the name)',
    )
    description: str | None = Field(
        default=None, description='what the value means, e.g. its unit ("in minutes")'
    )


class EntitySpec(BaseModel):
    name: str
    fields: list[FieldSpec] = Field(min_length=1)


class ProjectSpec(BaseModel):
    name: str
    description: str
    template: str = DEFAULT_TEMPLATE
    entities: list[EntitySpec] = Field(min_length=1)
    operations: list[str] = Field(default_factory=list)
    notes: list[str] = Field(
        default_factory=list,
        description="requirements the generated code does not implement; its README lists them",
    )
    not_understood: list[str] = Field(
        default_factory=list,
        description="sentences of this generation's prompt the provider could not read",
    )
    unused_variables: list[str] = Field(
        default_factory=list, description="request variables this generation did not use"
    )
    sentences: int = Field(
        default=0, description="how many sentences this generation's prompt had (0: not counted)"
    )


def snake(words: str) -> str:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", words.strip())
    return re.sub(r"\W+", "_", spaced.lower()).strip("_")


def pascal(words: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[\s_-]+", words.strip()) if w)


def template_or_default(template: str | None) -> str:
    """`template`, checked, or the default; BadRequirements for an unknown one."""
    if template is None:
        return DEFAULT_TEMPLATE
    if template not in TEMPLATES:
        raise BadRequirements(f'unknown template "{template}"; known: {", ".join(TEMPLATES)}')
    return template


def _finish(spec: ProjectSpec) -> ProjectSpec:
    """Check references and refresh the operations list."""
    names = {entity.name for entity in spec.entities}
    for entity in spec.entities:
        for field in entity.fields:
            if field.type == "ref" and field.ref not in names:
                raise BadRequirements(f"{entity.name}.{field.name} refers to unknown {field.ref}")
    order = dependency_order(spec)
    spec.operations = [f"create, get, list, update and delete {e.name}" for e in order]
    return spec


def dependency_order(spec: ProjectSpec) -> list[EntitySpec]:
    """Entities so that every required reference points to an earlier one."""
    by_name = {entity.name: entity for entity in spec.entities}
    ordered: list[EntitySpec] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def visit(entity: EntitySpec) -> None:
        if entity.name in placed:
            return
        if entity.name in visiting:
            raise BadRequirements(f"{entity.name} takes part in a circle of required references")
        visiting.add(entity.name)
        for field in entity.fields:
            if field.type == "ref" and field.required and field.ref in by_name:
                visit(by_name[field.ref])
        visiting.discard(entity.name)
        placed.add(entity.name)
        ordered.append(entity)

    for entity in spec.entities:
        visit(entity)
    return ordered


def project_name(text: str) -> str:
    """The package name a project called `text` gets."""
    project = snake(text)[:40].strip("_")
    return project if project and project[0].isalpha() else "project_" + project


def _quote(sentences: list[str]) -> str:
    quoted = "; ".join(f'"{text[:200]}"' for text in sentences[:_QUOTED_AT_MOST])
    return quoted + ("; ..." if len(sentences) > _QUOTED_AT_MOST else "")


def parse_requirements(
    prompt: str, name: str | None = None, template: str | None = None
) -> ProjectSpec:
    """A first generation's spec, read from `prompt` in the builtin requirements
    language. Sentences it cannot read are listed in `not_understood` and kept as
    `notes`; BadRequirements, naming the sentence or quoting them, if no entity results
    or a sentence cannot be applied."""
    # The language builds on this module's models, so it is imported when first used.
    from genflow.pipeline.language.apply import Draft
    from genflow.pipeline.language.reading import read_sentences
    from genflow.pipeline.language.sentences import split_sentences

    readings, unread, intro = read_sentences(prompt, introduced=True)
    draft = Draft([])
    draft.apply_all(readings)
    if not draft.entities:
        # The intro can be an unread sentence too: quote each sentence once.
        everything = list(dict.fromkeys(([intro[0]] if intro else []) + [s.text for s in unread]))
        raise BadRequirements(
            f"no entity found in {_quote(everything) or 'an empty prompt'}: describe at least "
            f"one with a sentence such as {_EXAMPLE}"
        )
    description = intro[0] if intro else f"A project with {', '.join(draft.entities)}"
    title = (
        intro[1] if intro and intro[1] else re.sub(r"^(an?|the)\s+", "", description, flags=re.I)
    )
    project = project_name(name or title)
    not_understood = [s.text for s in unread]
    spec = ProjectSpec(
        name=project,
        description=description,
        template=template_or_default(template),
        entities=list(draft.entities.values()),
        notes=[*draft.notes, *not_understood],
        not_understood=not_understood,
        sentences=len(split_sentences(prompt)),
    )
    return _finish(spec)


def extend_requirements(
    base: ProjectSpec, prompt: str, template: str | None = None
) -> tuple[ProjectSpec, list[str]]:
    """An iteration: `base` changed by `prompt`'s sentences (see
    `genflow.pipeline.language.apply`). Returns the new spec and a readable list of the
    changes. An iteration that changes nothing raises BadRequirements quoting the
    sentences it could not read; one that changes something lists them in
    `not_understood` (and adds them to `notes`)."""
    from genflow.pipeline.language.apply import Draft
    from genflow.pipeline.language.reading import read_sentences
    from genflow.pipeline.language.sentences import split_sentences

    readings, unread, _ = read_sentences(prompt, introduced=False)
    draft = Draft(base.entities)
    draft.apply_all(readings)
    not_understood = [s.text for s in unread]
    changes = draft.changes
    if template is not None and template_or_default(template) != base.template:
        changes.append(f"changed template from {base.template} to {template}")
    if not changes:
        reason = (
            f"could not read {_quote(not_understood)}"
            if not_understood
            else "the spec already is as every sentence asks"
        )
        raise BadRequirements(
            f"the iteration changes nothing: {reason}. Say what to add, change, rename or "
            'remove, e.g. "Add priority (integer) to Task." or "Remove due date from Task."'
        )
    if not draft.entities:
        raise BadRequirements("the iteration removes every entity")
    spec = base.model_copy(
        update={
            "entities": list(draft.entities.values()),
            "template": template or base.template,
            "notes": [*base.notes, *draft.notes, *not_understood],
            "not_understood": not_understood,
            "unused_variables": [],
            "sentences": len(split_sentences(prompt)),
        }
    )
    return _finish(spec), changes
