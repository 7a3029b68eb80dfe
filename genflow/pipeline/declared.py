"""What a generated project declares, and an environment that holds only that.

The owner of a project runs `pip install -e '.[test]'` then `python -m pytest`: only the
distributions its pyproject.toml declares (`[project].dependencies` and the `test` extra)
and what they require are installed. The review does the same without installing
anything: `build_view` makes a virtual environment of symlinks to those distributions'
top-level packages, modules and .dist-info directories, taken from genflow's own
environment (their RECORD files say which files are whose). Its interpreter is the base
Python, so nothing else of genflow's environment is importable, in the tests or in any
Python they start. pytest comes from the view too (the runner, with its requirements).

`inspect` reads the declaration and scans the project's Python files for imports of
modules that are neither the standard library, nor the project's own, nor provided by
what it declares: each is a finding (file, line, module). `lint_options` chooses ruff's
configuration: the project's own when it ships one.
"""

from __future__ import annotations

import ast
import functools
import os
import sys
import tomllib
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from genflow.files import FileOut

RUNNER = "pytest"  # what runs the tests: in every view, with its requirements
TEST_EXTRA = "test"  # the extra the generated README installs: pip install -e '.[test]'
MAX_REQUIREMENTS = 200  # requirement strings read from a pyproject.toml
MAX_DISTRIBUTIONS = 500  # distributions in one view, requirements followed
MESSAGE_LIMIT = 200
SITE_PACKAGES = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
PYC_TAG = sys.implementation.cache_tag
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


def build_view(distributions: tuple[Installed, ...], target: Path) -> None:
    """A virtual environment at `target` (pyvenv.cfg, bin/python: the base interpreter)
    whose site-packages holds symlinks to the distributions' files and nothing else."""
    base_python = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    site = target / SITE_PACKAGES
    site.mkdir(parents=True)
    (target / "bin").mkdir()
    os.symlink(base_python, target / "bin" / "python")
    version = ".".join(str(n) for n in sys.version_info[:3])
    (target / "pyvenv.cfg").write_text(
        f"home = {os.path.dirname(base_python)}\ninclude-system-site-packages = false\n"
        f"version = {version}\n"
    )
    dirs, links = _plan(distributions)
    for rel in dirs:
        (site / rel).mkdir(exist_ok=True)
    for rel, real in links:
        if not os.path.lexists(site / rel):
            os.symlink(real, site / rel)
    # Readable by the run's own uid, whatever the worker's umask.
    (target / "pyvenv.cfg").chmod(0o644)
    made = [site / rel for rel in dirs] + [target / "bin"]
    made += [site, *(p for p in site.parents if target in p.parents), target]
    for path in made:
        path.chmod(0o755)


@functools.lru_cache(maxsize=64)
def _plan(distributions: tuple[Installed, ...]) -> tuple[list[str], list[tuple[str, str]]]:
    """Directories to make and (link, target) pairs of a view: a directory wholly made
    of the distributions' files is one link; one shared with others (a namespace
    package such as `opentelemetry`) is made, and only their entries linked inside."""
    dirs: list[str] = []
    links: list[tuple[str, str]] = []
    by_base: dict[str, set[str]] = {}
    for dist in distributions:
        by_base.setdefault(dist.base, set()).update(dist.files)
    for base, owned in by_base.items():
        prefixes = {"/".join(p.split("/")[:i]) for p in owned for i in range(1, p.count("/") + 1)}
        for top in sorted({p.split("/")[0] for p in owned}):
            _place(Path(base), top, owned, prefixes, dirs, links)
    return dirs, links


def _place(
    base: Path,
    rel: str,
    owned: set[str],
    prefixes: set[str],
    dirs: list[str],
    links: list[tuple[str, str]],
) -> None:
    real = base / rel
    if not real.is_dir():
        if rel in owned and real.exists():
            links.append((rel, str(real)))
            _link_bytecode(base, rel, dirs, links)
        return
    if all(f in owned for f in _files_under(real, rel)):
        links.append((rel, str(real)))
        return
    dirs.append(rel)
    for child in sorted(os.listdir(real)):
        inner = f"{rel}/{child}"
        if child != "__pycache__" and (inner in owned or inner in prefixes):
            _place(base, inner, owned, prefixes, dirs, links)


def _files_under(real: Path, rel: str) -> Iterator[str]:
    for root, subdirs, names in os.walk(real):
        subdirs[:] = [d for d in subdirs if d != "__pycache__"]
        inside = os.path.relpath(root, real)
        for name in names:
            yield f"{rel}/{name}" if inside == "." else f"{rel}/{inside}/{name}"


def _link_bytecode(base: Path, rel: str, dirs: list[str], links: list[tuple[str, str]]) -> None:
    """A module linked on its own keeps its compiled bytecode (else every run compiles
    it again)."""
    if not rel.endswith(".py"):
        return
    parent, _, name = rel.rpartition("/")
    cache = f"{parent}/__pycache__" if parent else "__pycache__"
    pyc = f"{cache}/{name[:-3]}.{PYC_TAG}.pyc"
    if (base / pyc).is_file():
        if cache not in dirs:
            dirs.append(cache)
        links.append((pyc, str(base / pyc)))


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
        for line, module in _imported(tree)
        if module not in provided
    ]
    return Dependencies(declaration, declared, tuple(findings), (*declaration.requirements, RUNNER))


def own_modules(paths: Iterable[str]) -> set[str]:
    """Top-level names the project's own files make importable: from its root (the
    working directory of `python -m pytest`), from src/, and from the directory pytest
    puts on sys.path for a test file (the first one upward that is not a package)."""
    python = [p for p in paths if p.endswith(".py")]
    packages = {p.rpartition("/")[0] for p in python if p.endswith("/__init__.py")}
    names = set()
    for path in python:
        roots = [""]
        if path.startswith("src/"):
            roots.append("src")
        folder = path.rpartition("/")[0]
        while folder in packages:
            folder = folder.rpartition("/")[0]
        roots.append(folder)
        for root in roots:
            rest = path[len(root) + 1 :] if root else path
            top = rest.split("/", 1)[0]
            names.add(top.removesuffix(".py"))
    return names


def _imported(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, top-level module) of each absolute import, once per module, but not those
    guarded by `try: ... except ImportError` or `if TYPE_CHECKING:` (optional ones)."""
    seen: set[str] = set()
    stack: list[ast.AST] = list(reversed(tree.body))
    while stack:
        node = stack.pop()
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            modules = [node.module]
        for module in modules:
            top = module.split(".", 1)[0]
            if top not in seen and isinstance(node, ast.stmt):
                seen.add(top)
                yield node.lineno, top
        if isinstance(node, ast.Try | ast.TryStar) and _catches_import_error(node):
            children: list[ast.AST] = [*node.handlers, *node.orelse, *node.finalbody]
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            children = list(node.orelse)
        else:
            children = [
                child
                for field in ("body", "orelse", "finalbody", "handlers", "cases")
                for child in (getattr(node, field, None) or [])
                if isinstance(child, ast.AST)
            ]
        stack.extend(reversed(children))


def _catches_import_error(node: ast.Try | ast.TryStar) -> bool:
    for handler in node.handlers:
        caught = handler.type
        names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
        if caught is None or any(
            isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError", "Exception")
            for n in names
        ):
            return True
    return False


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


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
