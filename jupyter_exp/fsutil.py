"""Small file-system helpers shared by every layer: atomic writes and relative paths."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fobj:
            fobj.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Text flavour of :func:`atomic_write_bytes` (UTF-8, ``\\n`` line endings)."""
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def chdir(path: str | os.PathLike[str]) -> Iterator[None]:
    """Temporarily change the working directory."""
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def relpath(path: str | os.PathLike[str], start: str | os.PathLike[str]) -> str:
    """POSIX-style relative path, as DVC writes paths into dvc.yaml and dvc.lock."""
    return Path(os.path.relpath(path, start)).as_posix()


class TreeReader(Protocol):
    """Read-only view of a tree of files: the workspace, or a Git commit (``scm``'s ``GitTree``).

    Paths are POSIX, relative to the repository root. Templating, params, metrics and plots read
    through this so the same code serves the workspace and any revision without a checkout.
    """

    def read_bytes(self, path: str) -> bytes: ...

    def exists(self, path: str) -> bool: ...

    def isdir(self, path: str) -> bool: ...

    def listdir(self, path: str) -> list[str]: ...


class WorkspaceTree:
    """:class:`TreeReader` over the files on disk under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def read_bytes(self, path: str) -> bytes:
        return (self.root / path).read_bytes()

    def exists(self, path: str) -> bool:
        return (self.root / path).exists()

    def isdir(self, path: str) -> bool:
        return (self.root / path).is_dir()

    def listdir(self, path: str) -> list[str]:
        return sorted(os.listdir(self.root / path))
