"""What a test run has: the distributions of its environment (what the project declares,
and pytest), the pytest plugins it loads, its environment variables and the pytest
command line.

pytest loads the plugins of the declared distributions, as it would for the project's
owner; a project that declares nothing (no pyproject.toml) gets pytest and the installed
plugins it mentions.

CPU: pytest loads only its built-in plugins and, explicitly, those plugins, instead of every
installed package's plugin (PYTEST_DISABLE_PLUGIN_AUTOLOAD=1): `bench/review_cpu.py`
measures the effect.
"""

from __future__ import annotations

import functools
import sys
from importlib.metadata import entry_points
from pathlib import Path

from packaging.utils import canonicalize_name

from genflow.pipeline.review.declared import RUNNER, Dependencies, Resolution, resolve

# `-p no:...`: not loaded, unless the project declares the plugin's distribution
PYTEST_BLOCKED = ("cacheprovider", "asyncio")


@functools.cache
def _installed_plugins() -> tuple[tuple[str, str, tuple[bytes, ...]], ...]:
    """The installed pytest plugins (entry point name, canonical distribution name, words
    naming them): the entry point, its distribution and its top-level module."""
    plugins = []
    for point in entry_points(group="pytest11"):
        words = {point.name, point.value.split(".")[0].split(":")[0]}
        dist = "" if point.dist is None else canonicalize_name(point.dist.name)
        if point.dist is not None:
            words.add(point.dist.name.lower().replace("-", "_"))
        plugins.append((point.name, dist, tuple(sorted(w.encode() for w in words if w))))
    return tuple(plugins)


def run_environment(root: Path, dependencies: Dependencies | None) -> tuple[Resolution, list[str]]:
    """The distributions of the run's environment (what the project declares, and pytest)
    and the pytest plugins to load: those of its distributions. Blocking."""
    if dependencies is not None and dependencies.declaration.source is not None:
        view = resolve(dependencies.view, dependencies.declaration.name)
        names = {dist.name for dist in view.distributions}
        return view, [name for name, dist, _ in _installed_plugins() if dist in names]
    mentioned = _plugins_for(root)
    dists = sorted({d for name, d, _ in _installed_plugins() if name in mentioned and d})
    return resolve((RUNNER, *dists)), mentioned


def _plugins_for(root: Path) -> list[str]:
    """The installed pytest plugins the project's Python files or configuration mention (an
    `anyio` marker or fixture, a `hypothesis` import, ...). Only these are loaded: the
    others cannot be what the project's tests rely on, and loading every installed
    package's plugin is most of a small project's test run (schemathesis, hypothesis)."""
    plugins = _installed_plugins()
    if not plugins:
        return []
    texts = [
        path.read_bytes()
        for path in root.rglob("*")
        if path.suffix in (".py", ".toml", ".ini", ".cfg") and path.is_file()
    ]
    return [
        name
        for name, _, words in plugins
        if name not in PYTEST_BLOCKED and any(w in t for t in texts for w in words)
    ]


def scrubbed_environment(home: str, tmp: str) -> dict[str, str]:
    """A scrubbed environment: no secrets, no DATABASE_URL, nothing of the worker's."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }


def pytest_command(
    root: Path,
    junit_xml: Path | str,
    python: str = sys.executable,
    plugins: list[str] | None = None,
) -> list[str]:
    """The pytest command line of a test run of the project in `root` with `python`,
    loading `plugins` (by default the installed ones the project mentions)."""
    loaded = _plugins_for(root) if plugins is None else plugins
    blocked = [arg for name in PYTEST_BLOCKED if name not in loaded for arg in ("-p", f"no:{name}")]
    return [
        python,
        "-m",
        "pytest",
        "-q",
        *blocked,
        *(arg for name in loaded for arg in ("-p", name)),
        "--no-header",
        "-o",
        "addopts=",
        "-o",
        "junit_family=xunit1",  # testcases carry their file: failures name pytest node ids
        f"--junitxml={junit_xml}",
    ]
