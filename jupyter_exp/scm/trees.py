"""What a commit holds, read without dulwich types leaking out: its files (``GitTree``) and metadata."""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

#: (mode, blob sha) of one file in a tree, keyed by its POSIX path.
FileEntry = tuple[int, bytes]

TREE_MODE = stat.S_IFDIR


@dataclass(frozen=True)
class CommitInfo:
    """What the experiments layer needs from a commit, without dulwich types."""

    sha: str
    message: str
    parents: tuple[str, ...]
    time: datetime
    author: str
    tree: str


class GitTree:
    """:class:`jupyter_exp.fsutil.TreeReader` over a commit's tree; subtrees are read on first use.

    ``read`` gives an object's (type number, content) by hex sha (:meth:`ObjectReader.raw
    <jupyter_exp.scm.objects.ObjectReader.raw>`).
    """

    def __init__(self, read: Callable[[bytes], tuple[int, bytes]], tree_sha: bytes) -> None:
        self._read = read
        self.sha = tree_sha.decode()
        self._dirs: dict[str, dict[str, FileEntry]] = {}
        self._entries: dict[str, FileEntry | None] = {}
        self._root_sha = tree_sha

    def _listing(self, dirpath: str) -> dict[str, FileEntry] | None:
        """Entries of a directory (``""`` is the root), or None when it is not a directory."""
        if dirpath in self._dirs:
            return self._dirs[dirpath]
        if dirpath == "":
            sha = self._root_sha
        else:
            parent, _, name = dirpath.rpartition("/")
            listing = self._listing(parent)
            entry = listing.get(name) if listing is not None else None
            if entry is None or not stat.S_ISDIR(entry[0]):
                return None
            sha = entry[1]
        from dulwich.objects import parse_tree

        result = {name.decode(): (mode, sha) for name, mode, sha in parse_tree(self._read(sha)[1], 20)}
        self._dirs[dirpath] = result
        return result

    def entry(self, path: str) -> FileEntry | None:
        """(mode, sha) of ``path`` or None when it does not exist (remembered: reading a revision's params
        and metrics asks a dozen times per file whether it exists, is a folder, is in Git)."""
        try:
            return self._entries[path]
        except KeyError:  # the first look at this path
            pass
        found: FileEntry | None
        clean = path.strip("/")
        if not clean or clean == ".":
            found = (TREE_MODE, self._root_sha)
        else:
            parent, _, name = clean.rpartition("/")
            listing = self._listing(parent)
            found = None if listing is None else listing.get(name)
        self._entries[path] = found
        return found

    def read_bytes(self, path: str) -> bytes:
        entry = self.entry(path)
        if entry is None or stat.S_ISDIR(entry[0]):
            raise FileNotFoundError(f"'{path}' is not a file in tree {self.sha[:7]}")
        return self._read(entry[1])[1]

    def exists(self, path: str) -> bool:
        return self.entry(path) is not None

    def isdir(self, path: str) -> bool:
        entry = self.entry(path)
        return entry is not None and stat.S_ISDIR(entry[0])

    def listdir(self, path: str) -> list[str]:
        listing = self._listing(path.strip("/").removeprefix("."))
        if listing is None:
            raise NotADirectoryError(f"'{path}' is not a directory in tree {self.sha[:7]}")
        return sorted(listing)

    def walk_files(self, path: str = "") -> Iterator[tuple[str, int, bytes]]:
        """Every file under ``path``: (POSIX path, mode, blob sha)."""
        base = path.strip("/")
        listing = self._listing(base)
        if listing is None:
            return
        for name, (mode, sha) in sorted(listing.items()):
            child = f"{base}/{name}" if base else name
            if stat.S_ISDIR(mode):
                yield from self.walk_files(child)
            elif not is_gitlink(mode):
                yield child, mode, sha


class TreeAtCommit(NamedTuple):
    """A commit's files with its time and parents (see :meth:`Git.tree_at_commit`)."""

    tree: GitTree
    time: int | None  # commit time, seconds since the epoch
    tz: int  # commit timezone offset, seconds
    parents: list[str]


def is_gitlink(mode: int) -> bool:
    return stat.S_IFMT(mode) == 0o160000
