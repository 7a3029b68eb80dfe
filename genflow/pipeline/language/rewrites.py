"""The builtin requirements language, part 1c: a sentence said plainly.

Before a sentence is cut into clauses, "There are X with F", "For each X (we) store F",
"keep a list of my X with F" and "X, which have F" are said plainly ("X has F"), and
choices said in words ("a status which can be pending, shipped or delivered") are said
as options ("a status (one of pending/shipped/delivered)").
"""

from __future__ import annotations

import re

from genflow.pipeline.language.clauses import VERBS, verb_base

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
