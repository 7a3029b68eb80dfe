"""Hostile prompts cannot stall a worker: the longest prompt of each sentence shape the
builtin language reads is parsed off the worker's event loop in linear time, so each
ends (failed with a named sentence, or completed) within seconds and at most two attempts
of its stage, while another user's generation on the same worker completes."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import LIBRARY, Stack

MAX_PROMPT = 20_000


def longest(head: str, unit: str, tail: str = "") -> str:
    """`head` + `unit` repeated + `tail`, as long as a prompt may be."""
    room = MAX_PROMPT - len(head) - len(tail)
    return head + unit * (room // len(unit)) + tail


HOSTILE = {
    # One imperative sentence of about 10,000 short words (the report in issue 17).
    "imperative": longest("Add ", "a b "),
    "declare": longest("Book has ", "title, ", "and isbn."),
    "declare-typed": longest("Book has ", "a (text, required, unique) ", "."),
    "with": longest("Create a book with ", "a and b and ", "c."),
    "link": longest("A loan links a member to a book with ", "due on, ", "returned."),
    "belongs": longest("A loan belongs to ", "a member and ", "a book."),
    "has-many": longest("A member has many ", "loans ", "."),
    "change": longest("Make ", "a of ", "b required."),
    "options": longest("Book has tier (one of ", "a/", "b)."),
    "parentheses": longest("Book has title (", "(", ")."),
    "no-punctuation": longest("", "word "),
    "many-sentences": longest("", "Book has title. "),
}


@pytest.mark.postgresql_only
async def test_hostile_prompts_end_quickly_while_another_users_generation_completes(
    stack: Stack,
) -> None:
    created = {
        name: await stack.create(user="hostile-user", prompt=prompt)
        for name, prompt in HOSTILE.items()
    }
    other = await stack.create(user="other-user", prompt=LIBRARY)

    def ended(generation: dict[str, object]) -> bool:
        return generation["status"] in ("completed", "failed", "cancelled")

    results = await asyncio.gather(
        *(stack.wait_until(g["id"], ended, 30, user="hostile-user") for g in created.values())
    )
    done = await stack.wait_until(
        other["id"], lambda g: g["status"] == "completed", 30, user="other-user"
    )

    assert done["quality_score"] is not None
    for name, end in zip(created, results, strict=True):
        extraction = next(s for s in end["stages"] if s["name"] == "schema_extraction")
        assert extraction["attempts"] <= 2, (name, extraction)
        assert end["status"] in ("completed", "failed"), (name, end["status"])
        if end["status"] == "failed":
            assert end["error"]["code"] == "invalid_requirements", (name, end["error"])
