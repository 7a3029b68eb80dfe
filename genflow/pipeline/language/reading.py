"""The builtin requirements language, part 4: a prompt read sentence by sentence.

Every sentence is used (it declares, relates, adds, changes, renames or removes
something), is the project's description, or is reported: it goes to
`ProjectSpec.not_understood`. A sentence is said plainly, cut into clauses, and each
clause matched against the shapes; `genflow.pipeline.language.apply` applies what they
read.
"""

from __future__ import annotations

import re

from genflow.pipeline.language.clauses import VERBS, clauses, lead_in, verb_base
from genflow.pipeline.language.rewrites import rewrite
from genflow.pipeline.language.sentences import (
    Sentence,
    looks_like_title,
    plain,
    read_intro,
    split_sentences,
)
from genflow.pipeline.language.shapes import Declare, Reading, read
from genflow.pipeline.language.token_shapes import Acts, Records, acts, records


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
