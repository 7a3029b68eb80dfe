"""Requests of the corpus (tests/test_language_corpus.py), across the three templates,
generate projects whose own tests pass in the sandbox, constraints included: a value
out of bounds, an unknown choice, a duplicate of a unique value are refused by the
generated code, and its tests check each."""

from __future__ import annotations

import asyncio
import re

from genflow.pipeline.review.report import review
from genflow.pipeline.sandbox.limits import SandboxLimits
from genflow.pipeline.spec import parse_requirements
from genflow.pipeline.templates import render_project
from tests.test_language_corpus import CORPUS

SAMPLE = {
    "python-library": [
        "Tickets: subject (required), state (open, pending, closed), priority from 1 to 3.",
        "Songs have a title, an artist, a genre (rock/pop/jazz) and a bpm from 40 to 220.",
        "Accounts have an iban that must be unique, an owner and a balance of at least 0.",
        "Classes have a name, a type and an order.",
    ],
    "fastapi-service": [
        "A hotel system. Guests have a name. Rooms have a number and a view (sea, garden, "
        "city). A stay connects a guest and a room with a nights count from 1 to 30.",
        "Bugs have a title, a severity from 1 to 5, a status (new, triaged, fixed, closed) "
        "and an optional description.",
        "Trips have a destination, a start date, an end date and a budget in dollars.",
        "Exercises: name (required, unique), muscle group, equipment.",
    ],
    "cli-tool": [
        "Warehouses have a code (unique) and a city. Shelves have a label and a capacity of "
        "at most 500; each shelf belongs to a warehouse.",
        "We need students (name, email, year from 1 to 6), courses (code, title, credits) "
        "and enrollments (student, course, grade).",
        "Reviews have a score between 0 and 100, a comment and the product they are about. "
        "Products have a name.",
        "Products have a name, a price in euros and an on sale flag.",
    ],
}


_AT_ONCE = asyncio.Semaphore(3)  # reviews at a time: the other tests share the 2 cores


async def _generate(template: str, prompt: str) -> tuple[str, str, dict[str, object], str]:
    spec = parse_requirements(prompt, template=template)
    files = render_project(spec)
    tests = "\n".join(f.content.decode() for f in files if f.kind == "test")
    async with _AT_ONCE:
        result = await review(files, SandboxLimits(timeout_seconds=180))
    check = next(c for c in result.report["checks"] if c["name"] == "tests")
    return template, prompt, {**check, "score": result.score}, tests


async def test_a_sample_of_the_corpus_generates_projects_whose_tests_pass() -> None:
    known = {prompt for prompt, _ in CORPUS}
    sample = [(t, p) for t, prompts in SAMPLE.items() for p in prompts]
    assert len(sample) >= 12 and all(p in known for _, p in sample)
    results = await asyncio.gather(*(_generate(t, p) for t, p in sample))
    for template, prompt, check, tests in results:
        where = f"{template}: {prompt}"
        assert check["failed"] == 0 and check["passed"], (where, check.get("output_tail"))
        assert check["score"] == 100.0, where
        spec = parse_requirements(prompt, template=template)
        fields = [f for e in spec.entities for f in e.fields]
        if any(f.minimum is not None or f.maximum is not None for f in fields):
            assert re.search(r"def test_\w+_refuses_values_out_of_bounds", tests), where
            assert re.search(r"def test_\w+_takes_its_bounds", tests), where
        if any(f.choices for f in fields):
            assert re.search(r"def test_\w+_choices", tests), where
        if any(f.unique for f in fields):
            assert re.search(r"def test_\w+_unique", tests), where
