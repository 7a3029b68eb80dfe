"""The builtin requirements language, part 1b: a sentence as clauses.

Before a sentence is matched against the shapes of `genflow.pipeline.language.shapes`,
it is read as tokens (`genflow.pipeline.language.tokens`) and cut into clauses:

- a lead-in before a colon that names the app or the records ("A garden planner:",
  "Entities:", "The data:") goes; the rest is read;
- "X has F and belongs to Y", "X belong to Y and have F": a second verb after "and"
  starts a clause with the same subject;
- "it", "they", "each one" as a subject stand for the entity the prompt last declared.

Before it is cut, the sentence is said plainly (`genflow.pipeline.language.rewrites`);
after, two shapes are read on a clause's tokens (`genflow.pipeline.language.token_shapes`).
"""

from __future__ import annotations

import re

from genflow.pipeline.language.tokens import Token, join, tokenize
from genflow.pipeline.language.words import DETERMINERS, STOP_WORDS

# Verbs that relate two records ("coaches train athletes"): base forms; "-s" forms and
# past participles are derived.
_VERBS = """
run teach own write make borrow rent book reserve attend take manage lead play join place
order buy sell host organize organise publish send receive follow review rate visit use
sponsor coach train supervise employ hire serve treat prescribe submit post upload
contain hold cover report adopt enroll enrol register sign assign create earn win lend
drive fly ship deliver cook grow plant read watch wear support maintain approve issue
author edit list keep handle store schedule plan perform give offer provide raise
leave add upload share rent like comment bookmark favorite favourite
track log save record collect catalog catalogue work live study stay sit
"""
VERBS = frozenset(_VERBS.split())
# Verbs that are also nouns a field list names ("a name and book"): not a clause's verb.
_NOUN_TOO = frozenset({"book", "order", "post", "list", "issue", "plan", "review", "rate"})
_NOUN_TOO |= {"author", "record", "log", "host", "coach", "store", "stay", "study", "work"}
_NOUN_TOO |= {"report", "schedule", "sign", "play", "place", "visit", "watch", "support"}
_SUBJECT_VERBS = frozenset({"belongs", "belong", "has", "have", "references", "needs"})
_SUBJECT_VERBS |= {"can", "should", "must", "is", "are", "links", "refers", "points"}
_CLAUSE_VERB = re.compile(
    r"^(?:belongs?|references?|(?:refers?|links?|points?|relates?) to|(?:is|are) (?:linked|related"
    r"|connected|assigned|attached|owned)|has|have|owns?|needs?|stores?|contains?|includes?"
    r"|tracks?|records?|keeps?|holds?|gets?|can|should|must|may|will)\b",
    re.I,
)
_LEAD_IN = re.compile(
    r"^(?:(?:the\s+)?(?:entities|records|data(?:\s+model)?|tables|models|objects|resources"
    r"|things to (?:store|track)|it (?:stores|tracks|has)|we (?:store|track|need|have)"
    r"|fields|schema)|(?:i|we)\s+(?:need|want|would like|'d like)\s+(?:to\s+)?"
    r"(?:store|track|keep|manage|record)(?:\s+(?:these|the following))?)$",
    re.I,
)


def lead_in(text: str) -> tuple[str, str] | None:
    """ "Entities: X has F" -> ("Entities", "X has F"): a lead-in before a colon."""
    head, colon, tail = text.partition(":")
    if colon and tail.strip() and _LEAD_IN.match(head.strip()):
        return head.strip(), tail.strip()
    return None


def clauses(text: str, subject: str | None) -> list[str]:
    """`text` cut where "and" starts a clause of its own: "Comments have a body and belong
    to a post" -> ["Comments have a body", "Comments belong to a post"]. A pronoun subject
    ("It also has", "They belong to") stands for `subject`, the last entity declared."""
    tokens = tokenize(text)
    words = [t.low for t in tokens]
    if subject and words[:1] and words[0] in ("it", "they", "each", "these", "those"):
        drop = 2 if words[:2] == ["each", "one"] else 1
        if words[0] != "each" or drop == 2:
            text = subject + " " + join(tokens[drop:])
            tokens, words = tokenize(text), [t.low for t in tokenize(text)]
    cuts = []
    own: set[int] = set()  # clauses that name their own subject ("and each lesson belongs")
    for index, token in enumerate(tokens):
        if token.depth == 0 and token.low == "and" and 0 < index < len(tokens) - 2:
            window = tokens[index + 1 : index + 6]  # a few words: linear in the sentence
            rest = re.sub(r"^(?:each|also|it|they)\s+", "", join(window[:3]), flags=re.I)
            word = rest.split(" ", 1)[0].lower()
            if _own_subject(window) or (tokens[index - 1].text == "," and _new_clause(window)):
                cuts.append(index)
                own.add(index)
            elif (
                _CLAUSE_VERB.match(rest) or verb_base(word) in VERBS - _NOUN_TOO
            ) and not _CLAUSE_VERB.match(tokens[index - 1].low):
                cuts.append(index)
    if not cuts:
        return [text]
    first = tokens[: cuts[0]]
    head = _subject_of(first)
    if head is None and any(at not in own for at in cuts):
        return [text]
    out = [join(first).strip(" ,")]
    for at, end in zip(cuts, [*cuts[1:], len(tokens)], strict=True):
        rest = join(tokens[at + 1 : end]).strip(" ,")
        if at in own:
            out.append(rest)
            continue
        rest = re.sub(r"^(?:each|it|they)\s+", "", rest, flags=re.I)
        out.append(f"{head} {rest}")
    return out


_CREATE_VERBS = frozenset({"add", "create", "track", "store", "keep", "record", "log", "manage"})


def _new_clause(window: list[Token]) -> bool:
    """Whether the words after ", and" open a clause of their own: "..., and add songs
    with a title", "..., and authors with a name"."""
    words = [t.low for t in window]
    if words[:1] and words[0] in _CREATE_VERBS:
        return True
    return any(w in ("with", "have", "has", "(") for w in words[1:3]) and words[0] not in (
        DETERMINERS | STOP_WORDS
    )


def _own_subject(window: list[Token]) -> bool:
    """Whether the words after "and" open a clause of their own: "each lesson belongs"."""
    words = [t.low for t in window]
    if len(words) >= 2 and words[1] in ("have", "has", "belong", "belongs", "need", "needs"):
        return words[0] not in STOP_WORDS and window[0].is_word  # "and teachers have ..."
    if words[:1] not in (["each"], ["every"], ["a"], ["an"], ["the"]) or len(words) < 3:
        return False
    return words[2] in _SUBJECT_VERBS


def _subject_of(tokens: list[Token]) -> str | None:
    """The entity phrase a clause opens with: its words up to its verb."""
    words = []
    for token in tokens:
        if _CLAUSE_VERB.match(token.low) or token.low in ("also", "with", ":"):
            break
        words.append(token)
    names = [t for t in words if t.low not in DETERMINERS]
    if not 1 <= len(names) <= 3 or any(t.low in STOP_WORDS for t in names):
        return None
    return join(names)


def verb_base(word: str) -> str:
    """A verb's base form: "runs" -> run, "teaches" -> teach, "organizes" -> organize."""
    if word in VERBS:
        return word
    for suffix, replacement in (("ies", "y"), ("es", ""), ("s", ""), ("es", "e")):
        if word.endswith(suffix) and word[: -len(suffix)] + replacement in VERBS:
            return word[: -len(suffix)] + replacement
    return word
