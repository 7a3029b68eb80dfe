"""The builtin requirements language, part 0b: tokens.

A phrase is cut into tokens (words, numbers and punctuation, each with its depth in
parentheses), and a list of tokens into its items. The grammars read tokens, tagged by
the lexicon of `genflow.pipeline.language.words`.

Tokenizing and tagging are one pass each: linear in the phrase's length.
"""

from __future__ import annotations

import functools
import re

_TOKEN = re.compile(r"-?\d+(?:[.,]\d+)*|[A-Za-z_][\w'\u2019-]*|\.\.|\S")


class Token:
    """A word, number or punctuation mark; `low` is its lower case (the curly apostrophe
    made plain). A plain class with slots: a long prompt makes many."""

    __slots__ = ("depth", "low", "text")

    def __init__(self, text: str, depth: int) -> None:
        self.text = text  # as written
        self.depth = depth  # parentheses around it
        self.low = text.lower().replace("\u2019", "'")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Token) and (self.text, self.depth) == (other.text, other.depth)

    def __hash__(self) -> int:
        return hash((self.text, self.depth))

    def __repr__(self) -> str:
        return f"Token({self.text!r}, {self.depth})"

    @property
    def is_number(self) -> bool:
        return self.text[:1].isdigit() or (self.text[:1] == "-" and number(self.text) is not None)

    @property
    def is_word(self) -> bool:
        return self.text[:1].isalpha() or self.text[:1] == "_"


def number(text: str) -> float | None:
    """`text` as a number ("5", "-2", "1,000", "2.5"), or None."""
    cleaned = text.replace(",", "") if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+", text) else text
    try:
        return float(cleaned) if re.fullmatch(r"-?\d+(?:\.\d+)?", cleaned) else None
    except ValueError:  # pragma: no cover - the pattern admits only numbers
        return None


def tokenize(text: str) -> list[Token]:
    """Words, numbers and punctuation, with their depth in parentheses (brackets count
    as parentheses; an unmatched closing one is ignored). The grammars read a sentence
    several times: the last few are remembered (callers never change the list)."""
    return list(_tokenize(text))


@functools.lru_cache(maxsize=32)
def _tokenize(text: str) -> tuple[Token, ...]:
    tokens: list[Token] = []
    depth = 0
    for match in _TOKEN.finditer(text):
        piece = match[0]
        if piece in "([{" and len(piece) == 1:
            tokens.append(Token("(", depth))
            depth += 1
        elif piece in ")]}" and len(piece) == 1:
            if depth:
                depth -= 1
                tokens.append(Token(")", depth))
        else:
            tokens.append(Token(piece, depth))
    return tuple(tokens)


def join(tokens: list[Token]) -> str:
    """Tokens back to text: no space before punctuation or after an opening one."""
    out = ""
    for token in tokens:
        glue = token.text in ",:;)/%" or out.endswith(("(", "/")) or not out
        out += token.text if glue else " " + token.text
    return out


def flat(tokens: list[Token]) -> list[Token]:
    """`tokens` as if the parentheses around the first were not there."""
    base = tokens[0].depth if tokens else 0
    return [Token(t.text, max(0, t.depth - base)) for t in tokens]


def split_list(tokens: list[Token]) -> list[list[Token]]:
    """Items of a list: split on commas, "and", "plus", "as well as", "along with" and
    "&" outside parentheses. "between 1 and 5" stays one item, as does "either a or b";
    a leading conjunction or "also" goes."""
    items: list[list[Token]] = [[]]
    between = False
    index = 0
    while index < len(tokens):
        token = tokens[index]
        low = token.low
        separator = 0  # how many tokens the separator takes
        if token.depth == 0:
            if low == "between":
                between = True
            elif low == "and" and between:
                between = False
            elif low in (",", "plus", "&") or (low == "and" and not between):
                separator = 1
            elif low == "as" and _next_words(tokens, index, ("as", "well", "as")):
                separator = 3
            elif low in ("along", "together") and _next_words(tokens, index, (low, "with")):
                separator = 2
        if separator:
            items.append([])
            index += separator
            continue
        items[-1].append(token)
        index += 1
    cleaned = []
    for item in items:
        while item and item[0].depth == 0 and item[0].low in ("and", "or", "also", "then"):
            item = item[1:]
        while item and item[-1].low in ("etc", "."):
            item = item[:-1]
        if item:
            cleaned.append(item)
    return cleaned


def _next_words(tokens: list[Token], index: int, words: tuple[str, ...]) -> bool:
    window = tokens[index : index + len(words)]
    return len(window) == len(words) and all(
        t.low == w and t.depth == 0 for t, w in zip(window, words, strict=True)
    )


def split_text(text: str) -> list[str]:
    """`split_list` on text: the items as text."""
    return [join(item) for item in split_list(tokenize(text))]
