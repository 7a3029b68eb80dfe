"""The builtin requirements language, part 0: words.

A phrase is read as tokens (`genflow.pipeline.language.tokens`), each with a part of
speech from the small closed lexicon here: determiners, conjunctions, prepositions,
pronouns, auxiliary and modal verbs, numbers, type words, option words and units. Every
other word is open class: a name. The grammars of field lists
(`genflow.pipeline.language.items`) and of sentences (`genflow.pipeline.language.shapes`)
work on these tags, not on spellings, so "in stock", "date of birth" and "the team they
play for" read by the same rules.
"""

from __future__ import annotations

DETERMINERS = frozenset(
    [
        "a",
        "an",
        "the",
        "each",
        "every",
        "all",
        "any",
        "some",
        "its",
        "their",
        "his",
        "her",
        "my",
        "our",
        "your",
        "this",
        "that",
        "these",
        "those",
        "one",
    ]
)
CONJUNCTIONS = frozenset({"and", "or", "plus", "&", "but"})
PREPOSITIONS = frozenset(
    [
        "of",
        "for",
        "to",
        "from",
        "in",
        "on",
        "at",
        "by",
        "with",
        "about",
        "between",
        "into",
        "onto",
        "per",
        "within",
        "without",
        "over",
        "under",
        "after",
        "before",
        "during",
    ]
)
PRONOUNS = frozenset(
    [
        "it",
        "they",
        "them",
        "he",
        "she",
        "we",
        "i",
        "you",
        "me",
        "us",
        "him",
        "who",
        "which",
        "that",
        "what",
    ]
)
AUXILIARIES = frozenset(
    [
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "has",
        "have",
        "had",
        "do",
        "does",
        "did",
        "can",
        "could",
        "should",
        "must",
        "will",
        "would",
        "may",
        "might",
        "shall",
    ]
)
OPTION_WORDS = {
    "required": "required",
    "mandatory": "required",
    "compulsory": "required",
    "optional": "optional",
    "unique": "unique",
    "distinct": "unique",
}
# Units: what a number is counted in. Its word goes to the field's description.
INT_UNITS = frozenset(
    [
        "seconds",
        "pixels",
        "px",
        "words",
        "characters",
        "bytes",
        "kb",
        "mb",
        "gb",
        "minutes",
        "hours",
        "days",
        "weeks",
        "months",
        "years",
        "nights",
        "pages",
        "people",
        "guests",
        "persons",
        "items",
        "pieces",
        "cents",
        "steps",
        "reps",
        "calories",
        "points",
        "stars",
        "votes",
        "seats",
        "rooms",
        "beds",
        "copies",
        "units",
        "second",
        "minute",
        "hour",
        "day",
        "week",
        "month",
        "year",
        "night",
        "page",
    ]
)
FLOAT_UNITS = frozenset(
    [
        "km",
        "kilometers",
        "tons",
        "tonnes",
        "kilometres",
        "miles",
        "meters",
        "metres",
        "m",
        "cm",
        "mm",
        "kg",
        "kilograms",
        "grams",
        "g",
        "lbs",
        "pounds",
        "liters",
        "litres",
        "ml",
        "percent",
        "degrees",
        "celsius",
        "fahrenheit",
        "%",
        "inches",
        "feet",
        "ounces",
        "oz",
    ]
)
MONEY_UNITS = frozenset(
    [
        "euros",
        "euro",
        "eur",
        "dollars",
        "dollar",
        "usd",
        "gbp",
        "chf",
        "yen",
        "€",
        "$",
        "£",
        "sterling",
        "francs",
        "crowns",
    ]
)


_STOP = """
a an the each every all any some and or of to with has have had is are be been
can could should must will would may might shall that which who where when why how
it its this these those they them their there we i you he she me us
something nothing anything everything not no also for from in on by as at so if
whether make add create remove delete rename give many belongs belong
"""
STOP_WORDS = frozenset(_STOP.split())  # never an entity's name, nor a whole field name
