"""Small file-system helpers shared by every layer: atomic writes (and their dead writers' leftovers) and
relative paths."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol


def _host() -> str:
    """This machine's name, as ``socket.gethostname()`` gives it (uname's: no socket module to load)."""
    try:
        return os.uname().nodename
    except AttributeError:  # pragma: no cover - Windows
        import socket

        return socket.gethostname()


HOST = _host().replace("-", "_")
STALE_AFTER = 24 * 3600.0  # a partial from another host (shared cache) is only removed when this old


def writer_gone(name: str, now: float, mtime: float) -> bool:
    """Whether the writer of the temp file ``<host>-<pid>-<random>.tmp`` can no longer finish it."""
    host, _, rest = name.partition("-")
    pid_text = rest.partition("-")[0]
    if host != HOST or not pid_text.isdigit():
        return now - mtime > STALE_AFTER
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def tmp_name(name: str) -> str:
    """A temp name beside ``name`` that says who writes it, so a later writer can tell a dead one's leftover."""
    return f".{name}.{HOST}-{os.getpid()}-{os.urandom(6).hex()}.tmp"


def remove_dead_tmps(path: Path) -> None:
    """Remove the temp files of writers of ``path`` that were killed before their rename."""
    prefix = f".{path.name}."
    now = time.time()
    try:
        entries = [e for e in os.scandir(path.parent) if e.name.startswith(prefix) and e.name.endswith(".tmp")]
    except FileNotFoundError:
        return
    for entry in entries:
        with contextlib.suppress(FileNotFoundError):
            if writer_gone(entry.name[len(prefix) :], now, entry.stat().st_mtime):
                os.unlink(entry.path)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never half of one.

    A writer killed between write and rename leaves its temp file; the next write of ``path`` removes it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_tmps(path)
    tmp = path.with_name(tmp_name(path.name))
    try:
        with open(tmp, "xb") as fobj:
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
