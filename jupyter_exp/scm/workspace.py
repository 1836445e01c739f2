"""Which files a commit of the workspace holds: Git's view of the work tree (index, ignores, stat).

Part of :class:`~jupyter_exp.scm.git.Git`; its methods use ``flatten`` and ``head`` from there.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_exp.errors import SCMError
from jupyter_exp.scm.objects import write_loose
from jupyter_exp.scm.trees import FileEntry, is_gitlink

if TYPE_CHECKING:
    from dulwich.ignore import IgnoreFilterManager
    from dulwich.repo import Repo as DulwichRepo


class WorkspaceScan:
    """The work tree as Git sees it: tracked, ignored and untracked files, blob ids without re-reading."""

    root: Path
    repo: DulwichRepo
    _index_cache: tuple[tuple[int, int, int], dict[str, Any], int] | None = None

    def _ignore_manager(self) -> IgnoreFilterManager:
        from dulwich.ignore import IgnoreFilterManager

        return IgnoreFilterManager.from_repo(self.repo)

    def is_ignored(self, path: str) -> bool:
        """True when Git ignores ``path`` (relative to the root), as ``git check-ignore`` says."""
        path = Path(path).as_posix().strip("/")
        if (self.root / path).is_dir():
            path += "/"
        return bool(self._ignore_manager().is_ignored(path))

    def _index_entries(self) -> tuple[dict[str, Any], int]:
        """The index's file entries by path, and its mtime; read again only when the index file changed
        (an experiment run scans the workspace for each commit it makes, the index is the same)."""
        from dulwich.index import ConflictedIndexEntry

        try:
            st = os.stat(self.repo.index_path())
        except FileNotFoundError:
            return {}, 0
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = self._index_cache
        if cached is None or cached[0] != key:
            entries = {
                raw_path.decode(): entry
                for raw_path, entry in self.repo.open_index().items()
                if not isinstance(entry, ConflictedIndexEntry) and not is_gitlink(entry.mode)
            }
            cached = self._index_cache = (key, entries, st.st_mtime_ns)
        return cached[1], cached[2]

    def tracked(self, paths: Iterable[str]) -> set[str]:
        """Those of ``paths`` (POSIX, relative to the root) that the Git index tracks."""
        index = self.repo.open_index()
        return {path for path in paths if path.encode() in index}

    def workspace_files(
        self, *, write: bool = False, under: Iterable[str] | None = None
    ) -> dict[str, FileEntry]:
        """The files a commit of the workspace holds: tracked files as on disk + untracked, not ignored.

        Blob ids of tracked files whose stat matches the index are taken from the index (no read);
        ``write`` stores new blobs in the object database. ``under`` limits the scan to those paths.
        """
        from dulwich.objects import Blob

        store = self.repo.object_store
        tracked_entries, index_mtime_ns = self._index_entries()
        ignore = self._ignore_manager()
        roots = None if under is None else [Path(p).as_posix().strip("/") for p in under]

        def wanted(path: str) -> bool:
            return roots is None or any(path == r or path.startswith(r + "/") for r in roots)

        def blob_id(full: str, st: os.stat_result, tracked: Any) -> bytes:
            if (
                tracked is not None
                and not stat.S_ISLNK(st.st_mode)
                and tracked.size == st.st_size
                and _mtime_ns(tracked.mtime) == st.st_mtime_ns
                and st.st_mtime_ns < index_mtime_ns
            ):
                return tracked.sha
            data = os.readlink(full).encode() if stat.S_ISLNK(st.st_mode) else Path(full).read_bytes()
            blob = Blob.from_string(data)
            if write and blob.id not in store:
                write_loose(store, blob)
            return blob.id

        result: dict[str, FileEntry] = {}
        for path, entry in tracked_entries.items():
            if not wanted(path):
                continue
            full = os.path.join(self.root, path)
            try:
                st = os.lstat(full)
            except (FileNotFoundError, NotADirectoryError):
                continue
            if stat.S_ISDIR(st.st_mode):
                continue
            result[path] = (_file_mode(st), blob_id(full, st, entry))

        def scan(rel_dir: str) -> None:
            full_dir = os.path.join(self.root, rel_dir) if rel_dir else str(self.root)
            try:
                entries = list(os.scandir(full_dir))
            except (FileNotFoundError, NotADirectoryError):
                return
            for item in entries:
                rel = f"{rel_dir}/{item.name}" if rel_dir else item.name
                if item.is_dir(follow_symlinks=False):
                    if item.name == ".git" or os.path.exists(os.path.join(item.path, ".git")):
                        continue
                    if ignore.is_ignored(rel + "/") and ignore.may_prune_directory(rel + "/"):
                        continue
                    scan(rel)
                elif rel not in tracked_entries and wanted(rel) and not ignore.is_ignored(rel):
                    st = item.stat(follow_symlinks=False)
                    result[rel] = (_file_mode(st), blob_id(item.path, st, None))

        if roots is None:
            scan("")
        else:
            for root in roots:
                if (self.root / root).is_dir():
                    scan(root)
                elif (
                    root
                    and root not in tracked_entries
                    and (self.root / root).is_file()
                    and not ignore.is_ignored(root)
                ):
                    st = os.lstat(self.root / root)
                    result[root] = (_file_mode(st), blob_id(str(self.root / root), st, None))
        return result

    def dirty_paths(self) -> list[str]:
        """Paths whose workspace content differs from HEAD (changed, added or deleted), sorted."""
        workspace = self.workspace_files()
        try:
            head = self.flatten(self.head())
        except SCMError:
            head = {}
        changed = {p for p, e in workspace.items() if head.get(p) != e}
        changed.update(p for p in head if p not in workspace)
        return sorted(changed)


def _file_mode(st: os.stat_result) -> int:
    if stat.S_ISLNK(st.st_mode):
        return 0o120000
    return 0o100755 if st.st_mode & 0o111 else 0o100644


def _mtime_ns(value: int | float | tuple[int, int]) -> int:
    if isinstance(value, tuple):
        return value[0] * 1_000_000_000 + value[1]
    return int(value * 1_000_000_000)
