"""The builtin requirements language, part 2: the shapes of a plain sentence.

`read` turns a sentence made plain by `genflow.pipeline.language.sentences.plain` into one
`Reading`, keeping entity and field phrases as written; `genflow.pipeline.language.apply`
resolves them against the spec. The shapes are listed in `genflow.pipeline.language.sentences`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from genflow.pipeline.language.items import split_items
from genflow.pipeline.language.options import option_words
from genflow.pipeline.language.words import STOP_WORDS

# -- readings -----------------------------------------------------------------------


@dataclass(frozen=True)
class Declare:  # E has F; Add E with F; E with F
    entity: str
    items: list[str]
    additive: bool = False  # "also", "too", "as well": adds to an entity of this prompt


@dataclass(frozen=True)
class Link:  # A E links E1 to E2 [with F]
    entity: str
    left: str
    right: str
    items: list[str]
    additive: bool = False


@dataclass(frozen=True)
class Relate:  # E belongs to / references E2: E gets a reference field per target
    owner: str
    targets: list[str]
    required: bool


@dataclass(frozen=True)
class HasMany:  # E has many E2: each E2 refers to an E
    parent: str
    child: str


@dataclass(frozen=True)
class AddFields:  # Add F to E; Give E F
    entity: str
    items: list[str]


@dataclass(frozen=True)
class Remove:  # Remove E, or a field only one entity has
    target: str


@dataclass(frozen=True)
class RemoveFields:  # Remove F from E; E no longer has F
    entity: str
    items: list[str]


@dataclass(frozen=True)
class Rename:  # Rename E to N; Rename F of E to N (field None: an entity, or a field only
    entity: str  # one entity has)
    field: str | None
    new: str


@dataclass(frozen=True)
class ChangeField:  # Make F of E required
    entity: str | None
    field: str
    options: list[str]


Reading = (
    Declare | Link | Relate | HasMany | AddFields | Remove | RemoveFields | Rename | ChangeField
)

# -- the shapes -----------------------------------------------------------------------

_DET = r"(?:(?:a|an|the|each|every|all|any|some|new|our|my|their|its|one)\s+)*"
_KIND = r"(?:entity|entities|model|models|table|tables|resource|resources|class|type|types)"


def _e(group: str) -> str:
    """An entity phrase: determiners, an optional "entity called", 1-3 words."""
    return (
        rf"{_DET}(?:{_KIND}\s+(?:called|named)\s+)?"
        rf"(?P<{group}>[a-z][\w-]*(?:\s+[a-z][\w-]*){{0,2}}?)(?:\s+{_KIND})?"
    )


_HAVE = (
    r"(?:has|have|has got|have got|contains?|stores?|holds?|includes?|keeps?|tracks?|records?"
    r"|gets?|carry|carries|consists? of|is made of|comes? with|needs?|requires?"
    r"|(?:should|must|will|can|shall|may|needs? to) (?:have|contain|store|hold|include|keep"
    r"|track|record|get|carry))"
)
_WITH = r"(?:with|having|containing|including|holding|(?:that|which|who) (?:has|have))"
_MANY = r"(?:many|multiple|several|zero or more|one or more|any number of|a list of|lots of)"
_REMOVE = r"(?:remove|delete|drop|get rid of|take out|eliminate)"
_REFER = (
    r"(?:references?|refers? to|links? to|points? to|relates? to|(?:is|are) (?:linked|related"
    r"|connected|assigned|attached) to|(?:can|may|should|must|will) (?:reference|refer to"
    r"|link to|point to|be assigned to|be linked to))"
)
_BELONG = r"(?:belongs?|(?:should|must|will|can|shall) belong|(?:is|are) (?:owned by|part of))"
_FIELD_WORDS = r"(?:fields?|columns?|attributes?|properties|property)"
# The most words a changed field's reference, or its options, may have ("make <the title of
# the book> <required and unique>").
MAX_CHANGE_WORDS = 12


def _shape(pattern: str) -> re.Pattern[str]:
    return re.compile(f"^{pattern}$", re.I)


_LINK = _shape(
    rf"{_e('e')}\s+(?:links?|connects?|joins?|ties?|relates?)\s+{_e('l')}\s+(?:to|with|and)\s+"
    rf"{_e('r')}(?:\s+(?:with|having|and has)\s+(?P<items>.+))?"
)
_HAS_MANY = _shape(rf"{_e('p')}\s+(?:{_HAVE}|owns?|can own)\s+{_MANY}\s+{_e('c')}")
_RELATE = _shape(rf"{_e('o')}\s+(?P<verb>{_BELONG}\s+(?:to|by|of)|{_REFER})\s+(?P<targets>.+)")
_NO_LONGER = _shape(
    rf"{_e('e')}\s+(?:no longer|(?:does|do|should|must|will)(?: not|n't))\s+"
    r"(?:needs?|has|have|holds?|stores?|tracks?|requires?|keeps?)\s+(?:any\s+)?(?P<items>.+)"
)
_REMOVE_FIELDS = _shape(rf"{_REMOVE}\s+(?P<items>.+?)\s+(?:from|of|on|in)\s+{_e('e')}")
_REMOVE_ONE = _shape(rf"{_REMOVE}\s+(?P<target>.+)")
_RENAME = _shape(
    r"(?:rename|change the name of)\s+(?P<old>.+?)\s+(?:to|as|into)\s+(?P<new>[a-z][\w ]*)"
)
_CHANGE = [
    _shape(r"(?:make|set|mark)\s+(?P<rest>.+)"),
    _shape(
        r"change\s+(?:the\s+type\s+of\s+)?(?P<target>.+?)\s+(?:to|into)\s+(?:be\s+)?(?P<opts>.+)"
    ),
    _shape(
        r"(?P<target>.+?)\s+(?:is|are|should be|must be|becomes|will be|has to be|needs to be)"
        r"\s+(?P<opts>.+)"
    ),
]
_CREATE = _shape(
    rf"(?:add|create|make|define|introduce|register|track|record|store|keep|manage|log|save"
    rf"|model|support|have|need|want|build|list)\s+{_e('e')}\s+(?:{_WITH}|:)\s+(?P<items>.+)"
)
_ADD_FIELDS = _shape(
    rf"(?:add|include|put|attach|store|record|track|keep)\s+(?P<items>.+?)\s+"
    rf"(?:to|on|in|into|for)\s+{_e('e')}"
)
_GIVE = _shape(rf"give\s+{_e('e')}\s+(?P<items>(?:a|an|the|some)\s+.+)")
_DECLARE = _shape(rf"{_e('e')}\s+{_HAVE}\s+(?P<items>(?!to\b|been\b|{_MANY}\b).+)")
_COLON = _shape(rf"{_e('e')}\s*:\s*(?P<items>.+)")
_WITH_SHAPE = _shape(rf"{_e('e')}\s+{_WITH}\s+(?P<items>.+)")
_FIELD_OF = [
    _shape(rf"(?:the\s+)?(?P<field>.+?)\s+(?:of|in|on|for)\s+{_e('entity')}"),
    _shape(r"(?P<entity>\w+)\.(?P<field>\w+)"),
    _shape(rf"{_e('entity')}'s\s+(?P<field>.+)"),
]


def _entity_ok(phrase: str | None) -> bool:
    return bool(phrase) and not any(w.lower() in STOP_WORDS for w in str(phrase).split())


def _targets(text: str) -> list[str] | None:
    """``a project and a user`` -> [project, user], or None if one is no entity phrase."""
    found = []
    for item in split_items(text):
        match = _shape(_e("t")).match(item)
        if match is None or not _entity_ok(match["t"]):
            return None
        found.append(match["t"])
    return found or None


def _field_ref(text: str) -> tuple[str | None, str] | None:
    """``title of Task``, ``Task.title``, ``the task's title`` or a bare ``title``."""
    for pattern in _FIELD_OF:
        match = pattern.match(text)
        if match and _entity_ok(match["entity"]) and _entity_ok(match["field"]):
            return match["entity"], match["field"]
    bare = re.sub(r"^(?:the|a|an)\s+", "", text, flags=re.I)
    return (None, bare) if _entity_ok(bare) and len(bare.split()) <= 3 else None


def _change(text: str) -> ChangeField | None:
    make = _CHANGE[0].match(text)
    splits: list[tuple[str, str]] = []
    if make:  # "make <target> <options>": try the longest options tail first
        words = make["rest"].split()
        # A target and its options are a few words each: trying every split of a long
        # sentence would take time quadratic in its length (and read nothing).
        first = max(1, len(words) - MAX_CHANGE_WORDS)
        if first <= MAX_CHANGE_WORDS:
            splits = [(" ".join(words[:i]), " ".join(words[i:])) for i in range(first, len(words))]
    else:
        for pattern in _CHANGE[1:]:
            match = pattern.match(text)
            if match:
                splits = [(match["target"], match["opts"])]
                break
    for target, opts in splits:
        options = option_words(re.sub(r"^(?:to be|as)\s+", "", opts, flags=re.I))
        ref = _field_ref(re.sub(r"\s+(?:to be|as)$", "", target, flags=re.I))
        if options and ref:
            return ChangeField(ref[0], ref[1], options)
    return None


def _rename(text: str) -> Rename | None:
    match = _RENAME.match(text)
    if match is None:
        return None
    old = re.sub(rf"\s+{_FIELD_WORDS}$", "", match["old"], flags=re.I)
    for pattern in _FIELD_OF:
        found = pattern.match(old)
        if found and _entity_ok(found["entity"]) and _entity_ok(found["field"]):
            return Rename(found["entity"], found["field"], match["new"])
    return Rename(old, None, match["new"])


def read(text: str, additive: bool = False) -> Reading | None:
    """The reading of a plain sentence (see `plain`), or None if it has no known shape.
    Entity and field phrases are kept as written; `language_apply` resolves them."""
    if (match := _LINK.match(text)) and all(_entity_ok(match[g]) for g in ("e", "l", "r")):
        items = split_items(match["items"]) if match["items"] else []
        return Link(match["e"], match["l"], match["r"], items, additive)
    if (match := _HAS_MANY.match(text)) and _entity_ok(match["p"]) and _entity_ok(match["c"]):
        return HasMany(match["p"], match["c"])
    if (match := _RELATE.match(text)) and _entity_ok(match["o"]):
        targets = _targets(match["targets"])
        if targets:
            required = bool(re.match(_BELONG, match["verb"], re.I))
            return Relate(match["o"], targets, required)
    if (match := _NO_LONGER.match(text)) and _entity_ok(match["e"]):
        return RemoveFields(match["e"], split_items(match["items"]))
    if (match := _REMOVE_FIELDS.match(text)) and _entity_ok(match["e"]):
        return RemoveFields(match["e"], split_items(match["items"]))
    if match := _REMOVE_ONE.match(text):
        return Remove(match["target"])
    if edit := _rename(text) or _change(text):
        return edit
    for pattern in (_CREATE, _ADD_FIELDS, _GIVE, _DECLARE, _COLON, _WITH_SHAPE):
        match = pattern.match(text)
        if match is None or not _entity_ok(match["e"]):
            continue
        items = split_items(match["items"])
        if pattern in (_ADD_FIELDS, _GIVE):
            return AddFields(match["e"], items)
        return Declare(match["e"], items, additive)
    return None
