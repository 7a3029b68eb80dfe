"""The builtin requirements language, part 2b: two shapes read on tokens.

Besides the shapes of `genflow.pipeline.language.shapes`, two are read on the tokens of
a clause: a list of records with their fields in parentheses
("rooms (name, floor), guests (name) and stays (room, guest)"), and a clause whose verb
is any verb between two entity phrases ("teachers run classes with a title": a Class
with a title, that refers to its Teacher).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from genflow.pipeline.language.clauses import VERBS, verb_base
from genflow.pipeline.language.tokens import Token, join, split_list, tokenize
from genflow.pipeline.language.words import DETERMINERS, STOP_WORDS

_PARTICLES = frozenset({"up", "in", "on", "for", "to", "into", "at", "out", "off", "over"})
_AGENTS = frozenset({"we", "i", "you", "people", "everyone", "someone", "they"})


@dataclass(frozen=True)
class Records:  # rooms (name, floor), guests (name, email)
    entities: list[tuple[str, list[str]]]


@dataclass(frozen=True)
class Acts:  # teachers run classes [with F]: a Class refers to its Teacher
    subject: str | None  # None: the user ("we sell products with a price")
    obj: str
    items: list[str]
    about: str | None = None  # "leave reviews on products": a Review refers to a Product
    # "employees work in a department": with a preposition after the verb, the subject
    # refers to the object (an Employee has its Department)
    subject_refers: bool = False


def _entity_phrase(tokens: list[Token]) -> str | None:
    names = [t for t in tokens if t.low not in DETERMINERS]
    if not 1 <= len(names) <= 3 or not all(t.is_word and t.depth == 0 for t in names):
        return None
    if any(t.low in STOP_WORDS for t in names):
        return None
    return join(names)


_LEADING_VERB = re.compile(
    r"^(?:(?:we|i|it|the (?:app|system|service|api))\s+(?:will\s+|should\s+|must\s+)?)?"
    r"(?:add|create|track|store|keep|manage|record|model|need|want|have|has|stores|tracks"
    r"|keeps|manages|records|define|support|supports|list|lists)\s+",
    re.I,
)


def records(text: str) -> Records | None:
    """ "[Track] rooms (name, floor), guests (name, email) and stays (room, guest)"."""
    body = _LEADING_VERB.sub("", text, count=1)
    tokens = tokenize(body)
    if not any(t.text == "(" for t in tokens):
        return None
    found: list[tuple[str, list[str]]] = []
    for item in split_list(tokens):
        if item[-1].text != ")" or item[-1].depth != 0:
            return None
        open_at = next(i for i, t in enumerate(item) if t.text == "(")
        name = _entity_phrase(item[:open_at])
        inner = item[open_at + 1 : -1]
        if name is None or not inner:
            return None
        fields = [join(f) for f in split_list([Token(t.text, t.depth - 1) for t in inner])]
        found.append((name, fields))
    return Records(found) if found else None


def acts(text: str) -> Acts | None:
    """ "teachers run classes with a title and a level", "members borrow books", "we sell
    products with a price": a verb between two entity phrases."""
    tokens = tokenize(text)
    verb_at = next(
        (
            i
            for i, t in enumerate(tokens[:5])
            if i > 0 and t.depth == 0 and verb_base(t.low) in VERBS
        ),
        None,
    )
    if verb_at is None:
        return None
    subject_tokens = tokens[:verb_at]
    while subject_tokens and subject_tokens[-1].low in (
        "can",
        "could",
        "should",
        "must",
        "will",
        "may",
        "often",
        "usually",
        "also",
    ):
        subject_tokens = subject_tokens[:-1]
    rest = tokens[verb_at + 1 :]
    particle = bool(rest) and rest[0].low in _PARTICLES
    while rest and rest[0].low in _PARTICLES:  # "volunteers sign up for shifts"
        rest = rest[1:]
    end = next(
        (
            i
            for i, t in enumerate(rest)
            if t.depth == 0 and t.low in ("with", "(", "that", "which", "who", "having", ":")
        ),
        len(rest),
    )
    obj_tokens = [t for t in rest[:end] if t.low not in ("many", "several", "multiple", "one")]
    # "leave reviews on products": the object, then what it is about
    about = next(
        (i for i, t in enumerate(obj_tokens) if i and t.low in ("on", "for", "about", "of", "to")),
        None,
    )
    target = _entity_phrase(obj_tokens[about + 1 :]) if about is not None else None
    if about is not None and target is None:
        return None
    obj = _entity_phrase(obj_tokens[:about])
    if obj is None:
        return None
    items: list[str] = []
    tail = rest[end:]
    if tail:
        if tail[0].text == "(":
            if tail[-1].text != ")":
                return None
            items = [join(f) for f in split_list([Token(t.text, t.depth - 1) for t in tail[1:-1]])]
        else:
            skip = 1
            if tail[0].low in ("that", "which", "who") and len(tail) > 1:
                if tail[1].low not in ("have", "has", "carry", "include", "hold"):
                    return None
                skip = 2
            items = [join(f) for f in split_list(tail[skip:])]
    lowered = [t.low for t in subject_tokens if t.low not in DETERMINERS]
    if not lowered or (len(lowered) == 1 and lowered[0] in _AGENTS):
        if target is None and not items:
            return None
        return Acts(None, obj, items, target)
    # "Track my book collection" is no subject and a verb: an imperative, then a noun.
    if verb_base(subject_tokens[0].low) in VERBS and subject_tokens[0].low in VERBS:
        return None
    if any(t.low in DETERMINERS for t in subject_tokens[1:]):
        return None
    subject = _entity_phrase(subject_tokens)
    return Acts(subject, obj, items, target, particle and not items) if subject else None
