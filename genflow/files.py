"""Generated files as values: `FileOut`, safe relative paths and media types.

Pure: the pipeline, the providers and the read model share these without depending on
each other."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MEDIA_TYPES = {
    ".py": "text/x-python",
    ".md": "text/markdown",
    ".toml": "application/toml",
    ".json": "application/json",
}


@dataclass(frozen=True)
class FileOut:
    """A file produced by a stage, stored as an artifact."""

    path: str
    kind: str
    content: bytes
    media_type: str = "text/plain"


def safe_path(raw: str) -> str:
    """A normalized relative path inside the project, or ValueError."""
    if not raw.strip() or "\\" in raw or "\x00" in raw:
        raise ValueError(f"unsafe file path {raw!r}")
    path = PurePosixPath(raw.strip())
    if path.is_absolute() or ".." in path.parts or ":" in path.parts[0]:
        raise ValueError(f"unsafe file path {raw!r}: it must be relative, without '..'")
    normalized = str(path)
    if normalized in ("", "."):
        raise ValueError(f"unsafe file path {raw!r}")
    return normalized


def inside(root: Path, relative: str) -> Path:
    """`relative` (checked by `safe_path`) under `root`."""
    return root.joinpath(*PurePosixPath(safe_path(relative)).parts)


def media_type(path: str) -> str:
    return MEDIA_TYPES.get(PurePosixPath(path).suffix, "text/plain")
