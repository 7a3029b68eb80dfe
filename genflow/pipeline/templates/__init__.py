"""Builtin code generation and documentation with Jinja2 templates.

A spec becomes one of three small, tested projects (see ``TEMPLATES`` in
`genflow.domain`): a python-library (dataclasses and an in-memory store), a
fastapi-service (SQLAlchemy models, pydantic schemas, CRUD routes) or a cli-tool (a
Typer app over a JSON file). The templates live next to this module, one folder per
project template; this module only derives the names and sample values they need.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from genflow.files import FileOut, media_type
from genflow.pipeline.spec import ProjectSpec
from genflow.pipeline.templates.views import template_context

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent),
    keep_trailing_newline=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    extensions=["jinja2.ext.do"],
)


def _pytuple(items: Iterable[str]) -> str:
    """A Python tuple literal of strings."""
    quoted = [f'"{item}"' for item in items]
    return f"({quoted[0]},)" if len(quoted) == 1 else f"({', '.join(quoted)})"


def _doc(text: str, indent: int = 0) -> str:
    """`text` for a docstring opened at column `indent`: escaped and wrapped so that
    no line, closing quotes included, passes 100 columns."""
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return textwrap.fill(text, width=94 - indent, subsequent_indent=" " * indent)


def _pystr(text: str) -> str:
    """A double-quoted Python string literal of `text`."""
    return json.dumps(text, ensure_ascii=False)


def _comment(text: str, indent: int = 0) -> str:
    """`text` as `# ` comment lines opened at column `indent`, none past 100 columns."""
    lines = textwrap.wrap(" ".join(text.split()), width=98 - indent) or [""]
    return ("\n" + " " * indent + "# ").join(lines)


def _string_lines(keyword: str, text: str, pad: str) -> list[str]:
    """`keyword=(...)` with `text` split into adjacent literals that fit in 100 columns."""
    width = 100 - len(pad) - 4
    chunks: list[str] = []
    for word in re.findall(r"\S+\s*|\s+", text):
        if chunks and len(_pystr(chunks[-1] + word)) <= width:
            chunks[-1] += word
            continue
        while len(_pystr(word)) > width:  # a word longer than a line: cut it
            cut = width - 2
            while len(_pystr(word[:cut])) > width:
                cut -= 1
            chunks.append(word[:cut])
            word = word[cut:]
        chunks.append(word)
    inner = [f"{pad}    {_pystr(chunk)}" for chunk in chunks]
    return [f"{pad}{keyword}(", *inner, f"{pad}),"]


def _call(head: str, args: list[str], tail: str = "", indent: int = 0) -> str:
    """`head(args)tail` opened at column `indent`: on one line when it fits in 100
    columns, else its arguments on a line of their own, else one argument a line (a string
    too long for its line split into adjacent literals)."""
    pad = " " * indent
    inline = f"{pad}{head}({', '.join(args)}){tail}"
    if len(inline) <= 100:
        return inline
    inner = pad + "    "
    if len(inner + ", ".join(args)) <= 100:
        return f"{pad}{head}(\n{inner}{', '.join(args)}\n{pad}){tail}"
    lines = [f"{pad}{head}("]
    for arg in args:
        string = re.fullmatch(r'(\w+=)?(".*")', arg)
        if len(f"{inner}{arg},") <= 100 or string is None:
            lines.append(f"{inner}{arg},")
        else:
            lines += _string_lines(string.group(1) or "", json.loads(string.group(2)), inner)
    return "\n".join([*lines, f"{pad}){tail}"])


_ENV.filters["pytuple"] = _pytuple
_ENV.filters["doc"] = _doc
_ENV.filters["pystr"] = _pystr
_ENV.filters["comment"] = _comment
_ENV.globals["wrap_call"] = _call


_PROJECT_FILES = {
    "python-library": [
        ("pyproject.toml", "source"),
        ("{pkg}/__init__.py", "source"),
        ("{pkg}/models.py", "source"),
        ("{pkg}/store.py", "source"),
        ("{pkg}/py.typed", "source"),  # its types are for its users' type checkers too
        ("tests/test_{pkg}.py", "test"),
    ],
    "fastapi-service": [
        ("pyproject.toml", "source"),
        ("{pkg}/__init__.py", "source"),
        ("{pkg}/db.py", "source"),
        ("{pkg}/models.py", "source"),
        ("{pkg}/schemas.py", "source"),
        ("{pkg}/main.py", "source"),
        ("{pkg}/migrations/env.py", "source"),
        ("{pkg}/migrations/script.py.mako", "source"),
        ("alembic.ini", "source"),
        ("tests/test_api.py", "test"),
        ("tests/test_migrations.py", "test"),
    ],
    "cli-tool": [
        ("pyproject.toml", "source"),
        ("{pkg}/__init__.py", "source"),
        ("{pkg}/__main__.py", "source"),
        ("{pkg}/storage.py", "source"),
        ("{pkg}/cli.py", "source"),
        ("tests/test_cli.py", "test"),
    ],
}


def _template_source(path: str) -> str:
    """The template of an output path: `{pkg}` is spelled `pkg` in template names."""
    return path.replace("{pkg}", "pkg") + ".j2"


def render_project(spec: ProjectSpec) -> list[FileOut]:
    """The source and test files of the project described by `spec`, from the
    templates of `spec.template`; a fastapi-service's with its first migration, which
    creates every table."""
    if spec.template not in _PROJECT_FILES:
        raise ValueError(f"unknown template {spec.template!r}")
    context = template_context(spec)
    files = []
    for path, kind in _PROJECT_FILES[spec.template]:
        template = _ENV.get_template(f"{spec.template}/{_template_source(path)}")
        target = path.format(pkg=spec.name)
        content = template.render(context)
        files.append(FileOut(target, kind, content.encode(), media_type(target)))
    if spec.template == "fastapi-service":
        # Imported here: the migrations module builds on this package's view models.
        from genflow.pipeline.migrations.plan import migration_files

        files += migration_files(None, spec, [], [])
    return files


def generate_docs(spec: ProjectSpec, quality_score: float | None) -> list[FileOut]:
    """README and an API reference for the generated project."""
    context = template_context(spec)
    context["score"] = "not measured" if quality_score is None else f"{quality_score:.0f}/100"
    return [
        FileOut(
            path,
            "doc",
            _ENV.get_template(f"docs/{source}").render(context).encode(),
            "text/markdown",
        )
        for path, source in (("README.md", "README.md.j2"), ("docs/API.md", "API.md.j2"))
    ]
