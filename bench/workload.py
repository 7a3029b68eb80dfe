"""What the `genflow up` benchmarks (`bench/burst.py`, `bench/chaos.py`) send: a varied
mix of valid requirements in the builtin language, and tokens of the users sending them."""

from __future__ import annotations

from genflow.auth import issue_token
from tests.support import LIBRARY, SHOP

JWT_SECRET = "genflow-bench-secret-" + "x" * 24  # the stacks' GENFLOW_JWT_SECRET
# The per-user limits of the stacks, raised: the load is a few users creating fast.
LIMITS = {"GENFLOW_MAX_ACTIVE_PER_USER": "1000000", "GENFLOW_MAX_CREATES_PER_MINUTE": "1000000"}

# A varied set of valid requirements in the builtin language, over the three templates.
MIX: list[dict[str, str]] = [
    {"prompt": LIBRARY, "template": "python-library"},
    {"prompt": SHOP, "template": "fastapi-service"},
    {
        "prompt": "A task tracker. Task has title (text, required), done (boolean) and due_on "
        "(date). Tag has name (text, unique).",
        "template": "cli-tool",
    },
    {
        "prompt": "A recipe book. Recipe has name (text, required), servings (integer) and "
        "vegetarian (boolean). Ingredient has name (text, required) and unit (one of "
        "g/ml/piece).",
        "template": "python-library",
    },
    {
        "prompt": "A gym. Member has name (text, required), email (text, unique) and plan (one "
        "of monthly/yearly). Session has starts_at (datetime, required) and capacity "
        "(integer). A booking links a member to a session.",
        "template": "fastapi-service",
    },
    {
        "prompt": "An expense log. Expense has amount (decimal, required), spent_on (date, "
        "required), category (one of food/travel/other) and note (text).",
        "template": "cli-tool",
    },
]


def body(i: int) -> dict[str, str]:
    """The i-th request body of the mix."""
    return dict(MIX[i % len(MIX)])


def token(user: str) -> str:
    """A bearer token of `user` for the stacks, valid for a day."""
    return issue_token(user, JWT_SECRET, 24 * 3600)
