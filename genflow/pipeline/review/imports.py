"""What a project's Python files import, and which top-level names its own files
provide: the scan behind the review's undeclared-import findings."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator


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


def imported(tree: ast.Module) -> Iterator[tuple[int, str]]:
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
