"""What a generated project declares, and an environment that holds only that.

The owner of a project runs `pip install -e '.[test]'` then `python -m pytest`: only the
distributions its pyproject.toml declares (`[project].dependencies` and the `test` extra)
and what they require are installed. The review does the same without installing
anything: `resolve` finds those distributions (and pytest, the runner, with its
requirements) in genflow's own environment, and genflow.pipeline.review.view links them into
an environment of their own.

`inspect` reads the declaration and scans the project's Python files
(genflow.pipeline.review.imports) for imports of modules that are neither the standard
library, nor the project's own, nor provided by what it declares: each is a finding
(file, line, module).
"""

from __future__ import annotations

import ast
import functools
import sys
import tomllib
from collections import deque
from dataclasses import dataclass
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from genflow.files import FileOut
from genflow.pipeline.review.findings import MESSAGE_LIMIT
from genflow.pipeline.review.imports import imported, own_modules

RUNNER = "pytest"  # what runs the tests: in every view, with its requirements
TEST_EXTRA = "test"  # the extra the generated README installs: pip install -e '.[test]'
MAX_REQUIREMENTS = 200  # requirement strings read from a pyproject.toml
MAX_DISTRIBUTIONS = 500  # distributions in one view, requirements followed


@dataclass(frozen=True)
class Declaration:
    """The dependencies a project declares: `source` is None when it has no
    pyproject.toml with a [project] table (it declares nothing)."""

    source: str | None
    name: str | None = None
    requirements: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()


@dataclass(frozen=True)
class Installed:
    """One distribution of genflow's environment: the files of its RECORD inside
    `base` (its site-packages), as relative POSIX paths."""

    name: str
    version: str
    base: str
    files: frozenset[str]

    def modules(self) -> set[str]:
        """The top-level names it makes importable."""
        names = set()
        for path in self.files:
            top, _, rest = path.partition("/")
            name = top if rest else top.split(".", 1)[0]
            if name.isidentifier() and (rest or top.endswith((".py", ".so", ".pyd"))):
                names.add(name)
        return names


@dataclass(frozen=True)
class Resolution:
    """Requirements followed through genflow's installed distributions."""

    distributions: tuple[Installed, ...]
    not_installed: tuple[str, ...]
    mismatched: tuple[str, ...]

    @functools.cached_property
    def modules(self) -> frozenset[str]:
        return frozenset(name for dist in self.distributions for name in dist.modules())

    def names(self) -> list[str]:
        return [f"{dist.name} {dist.version}" for dist in self.distributions]


@dataclass(frozen=True)
class Dependencies:
    """What the review knows of a project's dependencies before its tests run."""

    declaration: Declaration
    declared: Resolution  # what `pip install -e '.[test]'` would install
    undeclared: tuple[dict[str, Any], ...]  # imports of nothing declared
    view: tuple[str, ...]  # requirements of the test environment: declared + runner

    def check(self, max_findings: int) -> dict[str, Any]:
        """The report's "dependencies" check."""
        return {
            "name": "dependencies",
            "declared_in": self.declaration.source,
            "requirements": [r[:MESSAGE_LIMIT] for r in self.declaration.requirements][
                :max_findings
            ],
            "invalid": [r[:MESSAGE_LIMIT] for r in self.declaration.invalid][:max_findings],
            "not_installed": [f"not installed here: {n}" for n in self.declared.not_installed][
                :max_findings
            ],
            "version_mismatch": list(self.declared.mismatched[:max_findings]),
            "findings": list(self.undeclared[:max_findings]),
            "findings_total": len(self.undeclared),
        }


def read_declaration(files: list[FileOut]) -> Declaration:
    """The project's declared requirements: `[project].dependencies` and the `test` extra."""
    pyproject = next((f for f in files if f.path == "pyproject.toml"), None)
    if pyproject is None:
        return Declaration(None)
    try:
        data = tomllib.loads(pyproject.content.decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return Declaration(None, invalid=("pyproject.toml is not valid TOML",))
    project = data.get("project")
    if not isinstance(project, dict):
        return Declaration(None)
    extras = project.get("optional-dependencies")
    listed = [
        *_strings(project.get("dependencies")),
        *_strings(extras.get(TEST_EXTRA) if isinstance(extras, dict) else None),
    ][:MAX_REQUIREMENTS]
    valid, invalid = [], []
    for text in listed:
        try:
            Requirement(text)
            valid.append(text)
        except InvalidRequirement:
            invalid.append(text)
    name = project.get("name")
    return Declaration(
        "pyproject.toml", name if isinstance(name, str) else None, tuple(valid), tuple(invalid)
    )


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


@functools.lru_cache(maxsize=128)
def resolve(requirements: tuple[str, ...], own_name: str | None = None) -> Resolution:
    """`requirements` and what they require (markers evaluated for the extras asked for),
    found among genflow's installed distributions. Cached: the environment does not change
    while genflow runs."""
    own = canonicalize_name(own_name) if own_name else None
    found: dict[str, tuple[Distribution, set[str]]] = {}
    missing: list[str] = []
    mismatched: list[str] = []
    queue = deque((Requirement(text), "") for text in requirements)
    while queue and len(found) < MAX_DISTRIBUTIONS:
        requirement, extra = queue.popleft()
        if not _applies(requirement, extra):
            continue
        name = canonicalize_name(requirement.name)
        if name == own:
            continue
        known = found.get(name)
        if known is not None and set(requirement.extras) <= known[1]:
            continue
        try:
            dist = known[0] if known else distribution(name)
        except PackageNotFoundError:
            if name not in missing:
                missing.append(name)
            continue
        if known is None and not requirement.specifier.contains(dist.version, prereleases=True):
            mismatched.append(f"{name} {dist.version} does not satisfy {requirement}"[:200])
        extras = (known[1] if known else set()) | set(requirement.extras)
        found[name] = (dist, extras)
        for text in dist.requires or []:
            try:
                needed = Requirement(text)
            except InvalidRequirement:
                continue
            queue.extend((needed, e) for e in ("", *sorted(extras)))
    installed = {name: _installed(name, dist) for name, (dist, _) in sorted(found.items())}
    return Resolution(
        tuple(i for i in installed.values() if i is not None),
        tuple(sorted(missing + [name for name, i in installed.items() if i is None])),
        tuple(mismatched),
    )


def _applies(requirement: Requirement, extra: str) -> bool:
    """Whether the requirement's marker holds here, for `extra` ("" for none)."""
    if requirement.marker is None:
        return True
    try:
        return requirement.marker.evaluate({"extra": extra})
    except (ValueError, KeyError):  # an undefined name or an incomparable value
        return False


def _installed(name: str, dist: Distribution) -> Installed | None:
    """The distribution's files inside its site-packages; None without a RECORD."""
    if dist.files is None:
        return None
    files = set()
    for path in dist.files:
        parts = path.parts
        if not parts or parts[0] in ("..", "/") or "__pycache__" in parts:
            continue
        if len(parts) == 1 and parts[0].endswith(".pth"):  # runs code at start-up
            continue
        files.add("/".join(parts))
    return Installed(name, dist.version, str(dist.locate_file("")), frozenset(files))


def inspect(files: list[FileOut], parsed: dict[str, ast.Module | SyntaxError]) -> Dependencies:
    """The project's declaration, resolved, and its imports of nothing it declares.
    Blocking (metadata and file reads): call it in a thread."""
    declaration = read_declaration(files)
    declared = resolve(declaration.requirements, declaration.name)
    own = own_modules(f.path for f in files)
    provided = declared.modules | own | set(sys.stdlib_module_names)
    findings = [
        {"path": path[:MESSAGE_LIMIT], "line": line, "module": module[:MESSAGE_LIMIT]}
        for path, tree in parsed.items()
        if isinstance(tree, ast.Module)
        for line, module in imported(tree)
        if module not in provided
    ]
    return Dependencies(declaration, declared, tuple(findings), (*declaration.requirements, RUNNER))
