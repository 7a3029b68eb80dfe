"""The environment a project's tests run in: a virtual environment of symlinks to exactly
the distributions it declares (genflow/pipeline/review/declared.py resolves them), taken from
genflow's own environment, whose RECORD files say which files are whose. Its interpreter
is the base Python, so nothing else of genflow's environment is importable, in the tests
or in any Python they start."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from genflow.pipeline.review.declared import Installed

SITE_PACKAGES = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
PYC_TAG = sys.implementation.cache_tag


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
