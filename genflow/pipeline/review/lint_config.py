"""Which ruff configuration the review lints a project with: the project's own when it
ships one, with genflow's rules always selected on top."""

from __future__ import annotations

import tomllib
from pathlib import Path

# Overrides of the project's ruff configuration: every Python file is linted, and no file
# is exempted wholesale from a rule.
LINT_OVERRIDES = (
    'include = ["*.py", "*.pyi"]',
    "extend-include = []",
    "exclude = []",
    "extend-exclude = []",
    "respect-gitignore = false",
    "lint.exclude = []",
    "lint.per-file-ignores = {}",
    "lint.extend-per-file-ignores = {}",
)
RUFF_CONFIGS = (".ruff.toml", "ruff.toml", "pyproject.toml")  # ruff's order of precedence


def lint_options(root: Path, rules: str, line_length: int) -> tuple[list[str], str]:
    """ruff's options for the project in `root`, and what they are in words. A project
    that ships a ruff configuration (`[tool.ruff]` in pyproject.toml, or ruff.toml) is
    linted with it, the way `ruff check .` lints it for its owner, plus genflow's `rules`,
    which no setting of the project switches off (nor exempts a file from: per-file
    ignores and exclusions are not honoured); one that ships none, with genflow's rules
    alone. A configuration that extends another file is not used (ruff runs on the host)."""
    why = "the project ships no ruff configuration"
    for name in RUFF_CONFIGS:
        path = root / name
        if not path.is_file() or path.is_symlink():
            continue
        try:
            data = tomllib.loads(path.read_text())
        except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
            continue
        config: object = data
        if name == "pyproject.toml":
            tool = data.get("tool")
            config = tool.get("ruff") if isinstance(tool, dict) else None
        if not isinstance(config, dict):
            continue
        if "extend" in config:
            why = f"the project's {name} extends another file, which the review does not read"
            break
        overrides = [arg for override in LINT_OVERRIDES for arg in ("--config", override)]
        return (
            ["--config", str(path), *overrides, "--extend-select", rules],
            f"the project's {name} with {rules} always selected",
        )
    return (
        ["--isolated", "--select", rules, "--line-length", str(line_length)],
        f"genflow's: {rules}, {line_length} columns ({why})",
    )
