"""The builtin requirements language, part 1b: a sentence as clauses.

Before a sentence is matched against the shapes of `genflow.pipeline.language_shapes`,
it is read as tokens (`genflow.pipeline.language_words`) and cut into clauses:

- a lead-in before a colon that names the app or the records ("A garden planner:",
  "Entities:", "The data:") goes; the rest is read;
- "X has F and belongs to Y", "X belong to Y and have F": a second verb after "and"
  starts a clause with the same subject;
- "it", "they", "each one" as a subject stand for the entity the prompt last declared;
- "There are X with F", "For each X (we) store F", "keep a list of my X with F" and
  "X, which have F" are said plainly ("X has F").

Two shapes are read here, on tokens: a list of records with their fields in parentheses
("rooms (name, floor), guests (name) and stays (room, guest)"), and a clause whose verb
is any verb between two entity phrases ("teachers run classes with a title": a Class
with a title, that refers to its Teacher).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from genflow.pipeline.language_fields import STOP_WORDS
from genflow.pipeline.language_words import DETERMINERS, Token, join, split_list, tokenize

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
_PARTICLES = frozenset({"up", "in", "on", "for", "to", "into", "at", "out", "off", "over"})
_AGENTS = frozenset({"we", "i", "you", "people", "everyone", "someone", "they"})
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
_PLAIN_REWRITES = [
    (
        re.compile(
            r"^(?:the|this|my|our)\s+(?:app|application|system|service|api|tool|site|website"
            r"|program|platform|backend|database)\s+(?:(?:should|must|will|can|needs? to"
            r"|has to)\s+)?(?:be\s+able\s+to\s+)?(?:also\s+)?",
            re.I,
        ),
        "",
    ),
    (re.compile(r"^there\s+(?:are|is|will be|should be)\s+", re.I), ""),
    (
        re.compile(
            r"^(?:keep|maintain|have)\s+(?:a\s+)?(?:list|record|log|catalog(?:ue)?|database|"
            r"collection)\s+of\s+(?:(?:all\s+)?(?:my|our|the|their)\s+)?",
            re.I,
        ),
        "keep ",
    ),
    (re.compile(r"^keep\s+track\s+of\s+", re.I), "track "),
    (
        re.compile(
            r"^(?:store|keep|track|save|record|hold)\s+(?:some\s+)?(?:information|info|data"
            r"|details)\s+(?:about|on|for|of)\s+",
            re.I,
        ),
        "",
    ),
    (re.compile(r"\s*,\s*(which|that|who|each)\s+(has|have|with)\b", re.I), r" \1 \2"),
    (re.compile(r"\s*,\s*each\s+with\b", re.I), " with"),
    # "a nickname, which is optional": the option of the field before it
    (
        re.compile(
            r"\s*,?\s+(?:which|that|who)\s+(?:is|are|must be|should be|has to be)\s+"
            r"(optional|required|unique|mandatory)\b",
            re.I,
        ),
        r" (\1)",
    ),
    # "a manager, who is another employee": the field refers to an entity
    (
        re.compile(
            r"(\w)\s*,?\s+(?:who|which|that)\s+is\s+(?:also\s+)?(?:a|an|another|one|the)\s+"
            r"(?:other\s+)?([a-z][\w-]*)\b",
            re.I,
        ),
        r"\1 (\2)",
    ),
]
_FOR_EACH = re.compile(
    r"^for\s+(?:each|every|all|any)?\s*(?P<e>[a-z][\w-]*(?:\s+[a-z][\w-]*){0,2}?)\s*[,:]?\s+"
    r"(?:(?:we|i|you)\s+)?(?:(?:want|need|would like|'d like)\s+to\s+)?(?:should\s+)?"
    r"(?:store|keep|record|track|save|have|need|want|know|remember|capture|list)\s+"
    r"(?:(?:its|their|the)\s+)?(?P<items>.+)$",
    re.I,
)


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


_CAN_BE = re.compile(
    r"\s+(?:which|that)\s+(?:can|could|may|must|should|will|is)\s+be\s+(?:one of\s+)?", re.I
)


_CHOICE_LIST = re.compile(
    r"((?:[A-Za-z][\w-]*\s*,\s*)*[A-Za-z][\w-]*\s*,?\s+or\s+[A-Za-z][\w-]*)(.*)$", re.S
)


def _choices_said(text: str) -> str:
    """ "a status which can be pending, shipped or delivered" -> "a status (one of
    pending/shipped/delivered)": the words after "can be", up to the one after "or"."""
    match = _CAN_BE.search(text)
    if match is None:
        return text
    found = _CHOICE_LIST.match(text[match.end() :])
    if found is None:
        return text
    choices = [c for c in re.split(r"\s*,\s*|\s+or\s+", found[1]) if c]
    return f"{text[: match.start()]} (one of {'/'.join(choices)}){found[2]}"


def rewrite(text: str) -> str:
    """The sentence said plainly: "There are X with F" is "X with F", "For each X store
    F" is "X has F", "X, which have F" is "X which have F", "a status which can be a, b
    or c" is "a status (one of a/b/c)"."""
    text = _choices_said(text)
    said = text
    for pattern, replacement in _PLAIN_REWRITES:
        text = pattern.sub(replacement, text, count=1)
    first, _, rest = text.partition(" ")
    base = verb_base(first.lower())
    if _PLAIN_REWRITES[0][0].match(said) and rest and base != first.lower() and base in VERBS:
        text = f"{base} {rest}"  # "The app tracks expenses with" -> "track expenses with"
    if match := _FOR_EACH.match(text):
        text = f"{match['e']} has {match['items']}"
    return text


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


def verb_base(word: str) -> str:
    """A verb's base form: "runs" -> run, "teaches" -> teach, "organizes" -> organize."""
    if word in VERBS:
        return word
    for suffix, replacement in (("ies", "y"), ("es", ""), ("s", ""), ("es", "e")):
        if word.endswith(suffix) and word[: -len(suffix)] + replacement in VERBS:
            return word[: -len(suffix)] + replacement
    return word
