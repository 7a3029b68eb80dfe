"""The checks that read a project without running it: every Python file parsed once for
the syntax check and the docstring count, and its declaration and imports inspected
(genflow.pipeline.review.declared)."""

from __future__ import annotations

import ast
import threading
from typing import Any

from genflow.files import FileOut
from genflow.pipeline.review.declared import Dependencies, inspect
from genflow.pipeline.review.findings import MESSAGE_LIMIT


def static_checks(
    files: list[FileOut],
) -> tuple[int, list[dict[str, Any]], int, int, Dependencies]:
    """Lines of Python, syntax findings, documented and public definitions, declared
    dependencies and undeclared imports. Blocking."""
    lines = sum(f.content.count(b"\n") + 1 for f in files if f.path.endswith(".py"))
    parsed = _parse(files)
    documented, public = _docstrings(files, parsed)
    return lines, _syntax_findings(parsed), documented, public, inspect(files, parsed)


# CPython 3.11 can fail a parse in a threaded program with a spurious "SystemError: AST
# constructor recursion depth mismatch" (python/cpython#106905; seen here once when 12
# reviews ran together): reviews parse one file at a time (milliseconds each), and a
# parse that fails so is tried once more.
_PARSING = threading.Lock()


def _parse_one(file: FileOut) -> ast.Module:
    with _PARSING:
        try:
            return ast.parse(file.content, filename=file.path)
        except SystemError:
            return ast.parse(file.content, filename=file.path)


def _parse(files: list[FileOut]) -> dict[str, ast.Module | SyntaxError]:
    """Each Python file parsed once: its tree, or the syntax error."""
    parsed: dict[str, ast.Module | SyntaxError] = {}
    for file in files:
        if file.path.endswith(".py"):
            try:
                parsed[file.path] = _parse_one(file)
            except SyntaxError as err:
                parsed[file.path] = err
            except (RecursionError, MemoryError, ValueError, SystemError) as err:  # too deep, NUL
                parsed[file.path] = SyntaxError(f"cannot be parsed ({type(err).__name__})")
    return parsed


def _syntax_findings(parsed: dict[str, ast.Module | SyntaxError]) -> list[dict[str, Any]]:
    return [
        {"path": path[:MESSAGE_LIMIT], "line": result.lineno, "message": result.msg[:MESSAGE_LIMIT]}
        for path, result in parsed.items()
        if isinstance(result, SyntaxError)
    ]


def _docstrings(
    files: list[FileOut], parsed: dict[str, ast.Module | SyntaxError]
) -> tuple[int, int]:
    documented = total = 0
    for file in files:
        tree = parsed.get(file.path)
        if not isinstance(tree, ast.Module) or file.kind == "test":
            continue
        for node in _definitions(tree):
            if node.name.startswith("_"):
                continue
            total += 1
            documented += ast.get_docstring(node) is not None
    return documented, total


_DEFINITION = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _definitions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]:
    """Every function and class definition, at any depth: what `ast.walk` finds, visiting
    statements only (a definition is a statement; expressions cannot hold one)."""
    found = []
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, _DEFINITION):
            found.append(node)
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, field, None)
            if isinstance(children, list):
                stack.extend(children)
    return found
