"""Long and repetitive prompts of every sentence shape the builtin language reads, at the
longest a prompt may be (20,000 characters), as first generations and as iterations:
each is read (a spec) or refused naming its sentence, and none takes more than a bounded
amount of CPU. The bound guards against a hang (a reading superlinear in the prompt takes
minutes here); the speed itself is measured by `bench/language.py`."""

from __future__ import annotations

import itertools
import time

import pytest

from genflow.pipeline.spec import (
    BadRequirements,
    ProjectSpec,
    extend_requirements,
    parse_requirements,
)

MAX_PROMPT = 20_000
HANG_GUARD_CPU_SECONDS = 5.0  # ten times the 0.5 s budget of bench/language.py
BASE = parse_requirements("Book has title (text, required). Member has name and email.")

# The opening words of each shape (language_shapes.py), then a unit repeated to the end.
HEADS = [
    "",
    "A library: ",
    "Add ",
    "Create a book with ",
    "Book has ",
    "Each book has ",
    "Book also has ",
    "Book: ",
    "A loan links ",
    "A loan belongs to ",
    "A member has many ",
    "Give ",
    "Remove ",
    "Book no longer has ",
    "Rename ",
    "Make ",
    "Change ",
    "Set ",
    # the shapes of the token grammar (issue 18)
    "Rooms (name, ",
    "Teachers run classes with ",
    "For each guest we store ",
    "Keep a list of my plants with ",
    "Comments have a body and belong to ",
    "The app tracks expenses with a rating from 1 to ",
]
UNITS = [
    "a ",
    "a of ",
    "a to ",
    "a from ",
    "a, ",
    "a and ",
    "a (",
    "a) ",
    "the ",
    "x has ",
    "is ",
    "of the ",
    "a's ",
    "a.b ",
    "a: ",
    "with ",
    "one of a/",
    "required ",
    "links a to ",
    "belongs to ",
    "title (text, required), ",
    "Book has title. ",
    "a between 1 and ",
    "a in minutes ",
    "the team they ",
    "a (draft, ",
]
# Each head with a rotating unit, and every unit alone: every unit is tried with a head too
# (bench/language.py, in make bench, tries every head with every unit).
CASES = [(head, UNITS[h % len(UNITS)]) for h, head in enumerate(HEADS) if head] + [
    ("", unit) for unit in UNITS
]


def longest(head: str, unit: str) -> str:
    return (head + unit * (MAX_PROMPT // len(unit) + 1))[:MAX_PROMPT]


@pytest.mark.parametrize(("head", "unit"), CASES)
@pytest.mark.parametrize("iteration", [False, True], ids=["first", "iteration"])
def test_the_longest_prompt_of_each_shape_is_read_or_refused_by_sentence(
    head: str, unit: str, iteration: bool
) -> None:
    prompt = longest(head, unit)
    started = time.process_time()
    try:
        if iteration:
            spec, _ = extend_requirements(BASE, prompt, None)
        else:
            spec = parse_requirements(prompt)
    except BadRequirements as err:
        named = ("sentence", "no entity found", "could not read")
        assert any(words in str(err) for words in named), str(err)[:200]
    else:
        assert isinstance(spec, ProjectSpec)
    spent = time.process_time() - started
    assert spent < HANG_GUARD_CPU_SECONDS, f"{spent:.1f} CPU-s for {prompt[:60]!r}..."


def test_every_shape_and_unit_is_covered() -> None:
    assert {unit for _, unit in CASES} == set(UNITS)
    assert {head for head, _ in CASES} == set(HEADS)
    assert len(set(itertools.chain(HEADS))) == len(HEADS)
