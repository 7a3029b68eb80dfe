"""The builtin requirements language, part 1: sentences, names and plain sentences.

A prompt is split into sentences (on ``. ! ? ;`` and line breaks; list markers are
dropped). Each sentence is first made plain (`plain`): fillers ("please", "also",
"then"), requests ("I'd like you to", "can you"), subjects with a modal ("users can",
"people should be able to", "let users") and gerunds ("tracking" to "track") go, so
that what people say reduces to a few shapes, read by `genflow.pipeline.language.shapes`
(``E`` is an entity phrase: articles and determiners are ignored, one to three words,
singular or plural; ``F`` a list of fields, see `genflow.pipeline.language.items`):

    E has/have/needs/stores F            Add/Create/Track E with F       E with F    E: F
    Add F to E           Give E F        E belongs to E2 [and E3]         E has many E2
    E references / refers to / links to / points to / is assigned to E2
    A E links E1 to E2 [with F]          Remove/Delete/Drop E | F [from E]
    E no longer has F    Rename E to N | Rename F of E to N | Rename E.F to N
    Make F of E <options>   Change F of E to <options>   F of E is/should be <options>

The first sentence may instead introduce the project ("A library service.", "I need a
todo app where people can add tasks with a title."), see `read_intro`. What the shapes
mean is applied by `genflow.pipeline.language.apply`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from genflow.pipeline.spec import pascal


@dataclass(frozen=True)
class Sentence:
    number: int
    text: str  # as written, without its closing punctuation

    @property
    def where(self) -> str:
        return f'sentence {self.number} ("{self.text}")'


def split_sentences(prompt: str) -> list[Sentence]:
    texts: list[str] = []
    for line in prompt.splitlines():
        line = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s+", "", line)
        for part in re.split(r"(?<=[.!?;])\s+|;", line):
            part = part.strip().rstrip(".!?;").strip()
            if part:
                texts.append(part)
    return [Sentence(number, text) for number, text in enumerate(texts, start=1)]


def count_sentences(prompt: str) -> int:
    """How many sentences `prompt` has, as the builtin language splits them."""
    return len(split_sentences(prompt))


# -- names --------------------------------------------------------------------------

_IRREGULAR = {"people": "person", "children": "child", "men": "man", "women": "woman"}
_IRREGULAR |= {"shelves": "shelf", "knives": "knife", "lives": "life", "leaves": "leaf"}
_IRREGULAR |= {"wolves": "wolf", "halves": "half", "wives": "wife", "geese": "goose"}
_IRREGULAR |= {"mice": "mouse", "teeth": "tooth", "feet": "foot", "criteria": "criterion"}
_US_PLURALS = ("buses", "bonuses", "viruses", "campuses", "censuses", "statuses", "cactuses")
_IE_PLURALS = ("movies", "cookies", "pies", "ties", "zombies", "rookies", "calories", "brownies")
_SAME_PLURAL = ("news", "series", "species", "status", "address", "class", "data")


def singular(word: str) -> str:
    lowered = word.lower()
    if lowered in _IRREGULAR:
        return word[0] + _IRREGULAR[lowered][1:]
    if lowered.endswith(_SAME_PLURAL) or lowered.endswith(("ss", "us", "is")):
        return word
    if lowered.endswith(_IE_PLURALS):
        return word[:-1]
    if lowered.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if lowered.endswith("zzes") or lowered.endswith(_US_PLURALS):
        return word[:-3] if lowered.endswith("zzes") else word[:-2]
    if lowered.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if lowered.endswith("s") and len(word) > 2:
        return word[:-1]
    return word


def entity_name(phrase: str) -> str:
    """``recipe items`` -> ``RecipeItem``: PascalCase, the last word made singular."""
    words = phrase.split()
    return pascal(" ".join([*words[:-1], singular(words[-1])])) if words else ""


# -- making a sentence plain ----------------------------------------------------------

_ACTIONS = (
    r"add|create|make|define|introduce|register|track|record|store|keep|manage|log|save"
    r"|enter|write|post|publish|upload|schedule|plan|submit|organi[sz]e|list|book"
)
_GERUNDS = {
    "keeping track of": "track",
    "tracking": "track",
    "managing": "manage",
    "storing": "store",
    "recording": "record",
    "keeping": "keep",
    "logging": "log",
    "adding": "add",
    "creating": "create",
    "organizing": "organize",
    "organising": "organize",
    "planning": "plan",
    "scheduling": "schedule",
    "booking": "book",
    "saving": "save",
    "listing": "list",
}
_PEOPLE = r"(?:people|users?|customers?|admins?|members?|staff|everyone|someone|anyone|teams?)"
_LEADING = [
    r"(?:and|then|now|so|ok|okay|finally|next|additionally|plus|lastly|first|second|third)\b,?",
    r"(?:(?:i|we)(?:'d| would)?\s+(?:really\s+)?(?:like|want|need|wish)(?:\s+you)?(?:\s+to)?"
    r"|(?:can|could|would|will)\s+you|you\s+(?:should|must|can)|let'?s|let\s+us"
    r"|make\s+sure\s+(?:to|that)?|be\s+sure\s+to|don'?t\s+forget\s+to"
    r"|it\s+should\s+be\s+possible\s+to|there\s+should\s+be\s+a\s+way\s+to)\s",
    rf"(?:let|lets|allow|allows|help|helps|enable|enables)\s+(?:the\s+)?(?:{_PEOPLE}|me|us|them)"
    r"(?:\s+to)?\s",
    rf"(?:(?:the|a|an|each|every|all)\s+)?(?:{_PEOPLE}|i|we|you|they|one)\s+"
    r"(?:(?:can|could|should|must|will|would|may|might|shall)(?:\s+be\s+able\s+to)?"
    rf"|(?:is|are)\s+able\s+to|(?:want|wants|need|needs|have|has)\s+to)\s+(?=(?:{_ACTIONS})\b)",
    "(" + "|".join(_GERUNDS) + r")\b",
]
_LEADING_RE = [re.compile("^" + pattern, re.I) for pattern in _LEADING]
_ADDITIVE = re.compile(r"\b(?:also|too|as well(?! as)|in addition)\b", re.I)


def plain(text: str) -> tuple[str, bool]:
    """The sentence reduced to one of the shapes, and whether it says "also"."""
    additive = bool(_ADDITIVE.search(text))
    text = re.sub(r"\bplease\b", " ", _ADDITIVE.sub(" ", text), flags=re.I)
    text = re.sub(r"\s+", " ", text).strip(" ,")
    previous = None
    while previous != text:
        previous = text
        for pattern in _LEADING_RE:
            text = pattern.sub(lambda m: _GERUNDS.get(m[0].lower(), ""), text, count=1)
            text = text.strip(" ,")
    return text, additive


# -- the project's introduction ---------------------------------------------------------

_PROJECT_WORDS = (
    r"app|apps|application|service|api|backend|tool|library|system|platform|site|website"
    r"|program|cli|project|tracker|manager|planner|shop|portal|dashboard|database|registry"
    r"|catalog|catalogue|inventory|marketplace|blog|forum|wiki|crm|erp|game|bot|store|keeper"
    r"|log|journal|organi[sz]er|scheduler|board|hub|backend|server|thing|mvp|prototype"
)
_INTRO = re.compile(
    r"^(?:(?:i|we)(?:'d| would)?\s+(?:really\s+)?(?:need|want|like|am building|are building"
    r"|am writing|are writing)\s+(?:(?:you\s+)?to\s+(?:build|make|create|write|have|get)\s+"
    r"(?:me\s+|us\s+)?)?|(?:i'm|we're)\s+(?:building|writing|making)\s+"
    r"|(?:(?:can|could|would|will)\s+you\s+)?(?:please\s+)?(?:build|make|write|create"
    r"|generate|design|give|set up)\s+(?:me\s+|us\s+)?|(?:this|it)\s+is\s+|it's\s+)?"
    r"(?:(?:a|an|the|my|our|one|some)\s+)?(?:(?:simple|small|tiny|basic|little|new)\s+)*"
    rf"(?P<name>(?:[a-z][\w-]*\s+){{0,3}}?(?:{_PROJECT_WORDS}))"
    r"(?:\s*,?\s+(?P<joint>where|in which|that|which|so that|so|for|to|with)\s+(?P<clause>.+))?$",
    re.I,
)


@dataclass(frozen=True)
class Intro:
    name: str  # the project's name as written ("todo app")
    clause: str | None  # what follows "where", "that", "with", ... if anything
    must_read: bool  # False for "with": a clause that may just describe the project


def read_intro(text: str) -> Intro | None:
    """The first sentence as the project's introduction: ``A library service``, ``I need
    a todo app where people can add tasks with a title``, ``An API for tracking ...``."""
    match = _INTRO.match(re.sub(r"\s+", " ", text.strip()))
    if match is None:
        return None
    # "where ..." and "that ..." say what the project holds: they must be read; "for my
    # business", "to manage a library" and "with ..." may just describe it.
    joint = (match["joint"] or "").lower()
    return Intro(match["name"], match["clause"], joint not in ("with", "for", "to", "so"))


def looks_like_title(text: str) -> bool:
    """A first sentence that can stand as the description: a noun phrase without a verb
    opening with an article ("A recipe box") or a few words ("Events"), who we are ("I
    run a small bakery"), or what we need said in general ("I need to store customers
    and their orders")."""
    if re.match(
        r"^(?:(?:i|we)\s+(?:run|own|have|manage|organi[sz]e|coach|teach|am|are)"
        r"|(?:i'm|we're|this is|it's|it is)"
        r"|(?:i|we)\s+(?:need|want|would like|'d like)\s+to\s+(?:store|track|keep|manage|build))\s",
        text,
        re.I,
    ):
        return True
    words = {w.lower() for w in re.findall(r"[\w']+", text)}
    if words & _VERB_WORDS:
        return False  # "A member can borrow up to 5 books" is a requirement, not a title
    return bool(re.match(r"^(?:a|an|the|this|our|my)\s", text, re.I)) or len(text.split()) <= 3


_VERB_WORDS = frozenset(
    {"is", "are", "was", "were", "be", "has", "have", "can", "could", "should", "must"}
    | {"will", "would", "may", "might", "shall", "need", "needs", "does", "do"}
)
