"""Content hashes identical to DVC 3's ``hash: md5``, memoised in the state db.

Files hash to the plain md5 of their bytes (DVC 3 no longer applies DVC 2's dos2unix text
normalisation to new entries). A directory hashes to the md5 of its ``.dir`` manifest, the JSON
list DVC 3 writes into the cache, plus the ``.dir`` suffix. Getting these bytes exactly right is
what lets the real ``dvc`` accept our ``dvc.lock`` and cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from jupyter_exp.errors import CacheError, YAMLFileError

from . import watch
from .listing import Ignore, Listing, compose, leaf_text, rescan, scan, scan_folder, summarize, tree_key
from .state import StateDB

Progress = Callable[[int, int], None]
"""``progress(bytes_done, bytes_total)``, called from the caller's thread only."""

CHUNK_SIZE = 4 * 1024 * 1024
# Files up to this size are read in one call: cheaper than a chunk loop.
SMALL_FILE = 1024 * 1024
# Below this much work a thread pool costs more than it saves.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024
# Several small files go to a worker together, so the per-task overhead stays small.
BATCH_BYTES = 8 * 1024 * 1024

DIR_SUFFIX = ".dir"


@dataclass(frozen=True)
class HashInfo:
    """The hash and size of a file or directory, as a ``dvc.lock`` entry records them."""

    md5: str
    size: int
    nfiles: int | None = None
    isexec: bool = False

    @property
    def isdir(self) -> bool:
        return self.md5.endswith(DIR_SUFFIX)

    def to_lock_entry(self, path: str) -> dict[str, Any]:
        """The entry DVC 3 writes under ``deps``/``outs`` in ``dvc.lock``, in DVC's key order."""
        entry: dict[str, Any] = {"path": path, "hash": "md5", "md5": self.md5, "size": self.size}
        if self.isdir:
            entry["nfiles"] = self.nfiles
        elif self.isexec:
            entry["isexec"] = True
        return entry

    @classmethod
    def from_lock_entry(cls, entry: dict[str, Any]) -> HashInfo:
        """Parse a ``dvc.lock`` (or ``.dvc`` file) entry; names the path when a field is bad."""
        where = entry.get("path", "<entry without path>")
        md5 = entry.get("md5")
        if not isinstance(md5, str) or not _is_md5(md5.removesuffix(DIR_SUFFIX)):
            raise YAMLFileError(f"'{where}': 'md5' must be an md5 hex digest, got {md5!r}")
        size = entry.get("size", 0)
        nfiles = entry.get("nfiles")
        if not isinstance(size, int) or (nfiles is not None and not isinstance(nfiles, int)):
            raise YAMLFileError(f"'{where}': 'size' and 'nfiles' must be integers")
        return cls(md5=md5, size=size, nfiles=nfiles, isexec=bool(entry.get("isexec", False)))


class TreeEntry(NamedTuple):
    """One file of a directory: its POSIX path inside the directory and its content hash."""

    relpath: str
    md5: str
    size: int


class _Stat(NamedTuple):
    """A file to read. The folder string is shared by its files: at a million files, per-file path strings
    were a tenth of ``add``'s memory."""

    folder: str
    name: str
    inode: int
    mtime_ns: int
    size: int

    @property
    def abspath(self) -> str:
        return os.path.join(self.folder, self.name)


@dataclass
class HashStats:
    """Counters that show what the state db saved: tests assert on these, not on timings."""

    files_read: int = 0
    bytes_read: int = 0
    file_state_hits: int = 0
    dir_state_hits: int = 0
    folders_restored: int = 0  # not listed again: the file watcher (``watch.py``) saw no event in them
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_read(self, nbytes: int) -> None:
        with self._lock:
            self.files_read += 1
            self.bytes_read += nbytes


def _is_md5(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def manifest_bytes(entries: Iterable[TreeEntry]) -> bytes:
    """The ``.dir`` object DVC 3 writes: ``json.dumps(sort_keys=True)`` of md5/relpath dicts sorted by relpath."""
    rows = [{"md5": e.md5, "relpath": e.relpath} for e in sorted(entries, key=lambda e: e.relpath)]
    return json.dumps(rows, sort_keys=True).encode("utf-8")


def parse_manifest(data: bytes, where: str) -> list[TreeEntry]:
    """Entries of a ``.dir`` object (sizes are not stored there, so they read as -1)."""
    try:
        rows = json.loads(data)
        return [TreeEntry(row["relpath"], row["md5"], int(row.get("size", -1))) for row in rows]
    except (ValueError, TypeError, KeyError) as exc:
        raise CacheError(f"'{where}' is not a valid .dir manifest: {exc}") from exc


def dir_hash_info(entries: Sequence[TreeEntry]) -> HashInfo:
    """HashInfo of a directory from its entries: md5 of the manifest + ``.dir``."""
    digest = hashlib.md5(manifest_bytes(entries), usedforsecurity=False).hexdigest()
    return HashInfo(digest + DIR_SUFFIX, sum(e.size for e in entries), len(entries))


_buffers = threading.local()


def file_md5(path: str | os.PathLike[str], size: int | None = None, progress: Progress | None = None) -> str:
    """md5 of a file's bytes: one ``read`` for small files, a reused 4 MiB buffer for large ones.

    Small files go through a bare descriptor (no file object, one read of size + 1 that also sees
    EOF): with thousands of them per second the per-file Python work, done under the GIL, is what
    keeps hashing threads from reaching a bare multi-process md5 loop."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if size is None:
            size = os.fstat(fd).st_size
        if size <= SMALL_FILE and progress is None:
            data = os.read(fd, size + 1)
            hasher = hashlib.md5(data, usedforsecurity=False)
            if len(data) > size:  # the file grew since stat: hash the rest too
                while rest := os.read(fd, CHUNK_SIZE):
                    hasher.update(rest)
            return hasher.hexdigest()
        hasher = hashlib.md5(usedforsecurity=False)
        buf = getattr(_buffers, "buf", None)
        if buf is None:
            buf = _buffers.buf = bytearray(CHUNK_SIZE)
        view = memoryview(buf)
        done = 0
        while count := os.readv(fd, [buf]):
            hasher.update(view[:count])
            done += count
            if progress is not None:
                progress(done, size)
        return hasher.hexdigest()
    finally:
        os.close(fd)


def load_dvcignore(repo_root: str | os.PathLike[str]) -> tuple[Ignore | None, str]:
    """The repository's ``.dvcignore`` (gitignore syntax) as a predicate on repo-relative POSIX paths
    (directories end with ``/``), None when there is none, and the md5 of its patterns (what a stored
    listing was made with). DVC leaves such paths out of directory hashes."""
    path = os.path.join(repo_root, ".dvcignore")
    try:
        with open(path, "rb") as fobj:
            lines = [line.rstrip(b"\r\n") for line in fobj]
    except FileNotFoundError:
        return None, ""
    patterns = [line for line in lines if line.strip() and not line.lstrip().startswith(b"#")]
    if not patterns:
        return None, ""
    from dulwich.ignore import IgnoreFilter

    matcher = IgnoreFilter(patterns)
    identity = hashlib.md5(b"\n".join(patterns), usedforsecurity=False).hexdigest()
    return (lambda relpath: bool(matcher.is_ignored(relpath))), identity


class Hasher:
    """Hashes files and directories under ``repo_root``, reading only what changed since last time.

    Unchanged files are recognised by (inode, mtime_ns, size), unchanged directories by a
    fingerprint of all their files' stats; both live in :class:`StateDB`. New content is hashed
    on ``jobs`` threads (``hashlib`` releases the GIL on large buffers).
    """

    def __init__(
        self,
        repo_root: str | os.PathLike[str],
        *,
        state: StateDB | None = None,
        jobs: int | None = None,
    ) -> None:
        self.root = Path(repo_root)
        self.state = state if state is not None else StateDB(self.root)
        self.jobs = jobs or os.cpu_count() or 1
        self.stats = HashStats()
        self.ignore, self.ignore_id = load_dvcignore(self.root)

    def close(self) -> None:
        self.state.close()

    def __enter__(self) -> Hasher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _abspath(self, path: str | os.PathLike[str]) -> str:
        return os.path.join(self.root, path)

    def hash(self, path: str | os.PathLike[str], progress: Progress | None = None) -> HashInfo:
        """HashInfo of a file or directory (relative paths are taken from the repo root)."""
        abspath = self._abspath(path)
        try:
            st = os.stat(abspath)
        except FileNotFoundError as exc:
            raise CacheError(f"cannot hash '{path}': it does not exist") from exc
        if stat.S_ISDIR(st.st_mode):
            return self._hash_dir(abspath, progress)[0]
        if not stat.S_ISREG(st.st_mode):  # reading a FIFO would wait for a writer forever
            raise CacheError(f"cannot hash '{path}': it is not a regular file (a FIFO, socket or device)")
        return self._hash_file(abspath, st, progress)

    def hash_many(
        self, paths: Iterable[str | os.PathLike[str]], progress: Progress | None = None
    ) -> list[HashInfo]:
        """HashInfo of each path, in order; state db writes for all of them go in one transaction."""
        with self.state.batch():
            return [self.hash(path, progress) for path in paths]

    def hash_tree(
        self, path: str | os.PathLike[str], progress: Progress | None = None
    ) -> tuple[HashInfo, list[TreeEntry]]:
        """A directory's HashInfo and its per-file entries (what the cache needs to store it)."""
        abspath = self._abspath(path)
        if not os.path.isdir(abspath):
            raise CacheError(f"'{path}' is not a directory")
        info, entries = self._hash_dir(abspath, progress, need_entries=True)
        assert entries is not None
        return info, entries

    def changed(self, path: str | os.PathLike[str], hash_info: HashInfo) -> bool:
        """Whether ``path`` no longer matches ``hash_info`` (missing counts as changed)."""
        try:
            return self.hash(path).md5 != hash_info.md5
        except CacheError:
            return True

    def remember(self, abspath: str, md5: str) -> None:
        """Record a hash already known (e.g. a file just checked out) so it is never re-read."""
        st = os.stat(abspath)
        self.state.put_files([(st.st_ino, st.st_mtime_ns, st.st_size, md5)])

    def _hash_file(self, abspath: str, st: os.stat_result, progress: Progress | None) -> HashInfo:
        isexec = bool(st.st_mode & stat.S_IXUSR)
        known = self.state.get_files([(st.st_ino, st.st_mtime_ns, st.st_size)])
        md5 = known.get(st.st_ino)
        if md5 is not None:
            self.stats.file_state_hits += 1
        else:
            md5 = file_md5(abspath, st.st_size, progress)
            self.stats.add_read(st.st_size)
            self.state.put_files([(st.st_ino, st.st_mtime_ns, st.st_size, md5)])
        if progress is not None:
            progress(st.st_size, st.st_size)
        return HashInfo(md5, st.st_size, None, isexec)

    def _hash_dir(
        self, abspath: str, progress: Progress | None, need_entries: bool = False
    ) -> tuple[HashInfo, list[TreeEntry] | None]:
        """Stat every file; read only files the state db does not know; reuse each unchanged leaf
        folder's remembered manifest rows, so one changed file costs one folder's lookups."""
        base = os.path.relpath(abspath, self.root).replace(os.sep, "/") + "/"
        base = "" if base.startswith("../") else base
        listings = scan(abspath, self.ignore, base, self.jobs) if need_entries else self._list(abspath, base)
        fingerprint = tree_key(listings)
        if not need_entries:
            known = self.state.get_dir(fingerprint)
            if known is not None:
                self.stats.dir_state_hits += 1
                md5, size, count = known
                if progress is not None:
                    progress(size, size)
                return HashInfo(md5, size, count), None

        total = sum(listing.size for listing in listings)
        nfiles = sum(listing.count for listing in listings)
        leaves = self.state.get_listings([listing.key for listing in listings if listing.is_leaf])
        if any(lst.elided and lst.key not in leaves for lst in listings):  # rows forgotten: list them
            listings = [
                scan_folder(lst.prefix, lst.abspath, self.ignore, base)
                if lst.elided and lst.key not in leaves
                else lst
                for lst in listings
            ]
            fingerprint = tree_key(listings)
            leaves = self.state.get_listings([listing.key for listing in listings if listing.is_leaf])
        self.stats.file_state_hits += sum(lst.count for lst in listings if lst.key in leaves)
        # Folders whose rows are not remembered (or are needed file by file): per-file md5s.
        open_folders = [lst for lst in listings if lst.key not in leaves or need_entries]
        hashes = self.state.get_files(file[1:] for lst in open_folders for file in lst.files)
        self.stats.file_state_hits += len(hashes)
        todo = [
            _Stat(lst.abspath, *file) for lst in open_folders for file in lst.files if file[1] not in hashes
        ]
        done = total - sum(s.size for s in todo)
        if progress is not None:
            progress(done, total)
        hashes.update(self._hash_files(todo, done, total, progress))
        self.state.put_files((s.inode, s.mtime_ns, s.size, hashes[s.inode]) for s in todo)
        del todo
        md5s = {lst.prefix: [hashes[file[1]] for file in lst.files] for lst in open_folders}
        fresh = {lst.key: leaf_text(lst, md5s[lst.prefix]) for lst in open_folders if lst.is_leaf}
        self.state.put_listings((key, text) for key, text in fresh.items() if key not in leaves)
        leaves.update(fresh)
        manifest = compose(listings, {lst.prefix: leaves[lst.key] for lst in listings if lst.is_leaf}, md5s)
        info = HashInfo(hashlib.md5(manifest, usedforsecurity=False).hexdigest() + DIR_SUFFIX, total, nfiles)
        self.state.put_dir(fingerprint, info.md5, info.size, nfiles)
        if not need_entries:
            return info, None
        entries = [
            TreeEntry(lst.prefix + file[0], md5, file[3])
            for lst in listings
            for file, md5 in zip(lst.files, md5s[lst.prefix], strict=True)
        ]
        entries.sort(key=lambda e: e.relpath)
        return info, entries

    def _list(self, abspath: str, base: str) -> list[Listing]:
        """The tree's listings: from the summary stored last time for every folder the file watcher (the
        daemon's, a kernel's) saw no event in, listed afresh for the others; a big tree not yet watched is
        put under watch."""
        watcher = watch.active()
        if watcher is None or not os.path.isabs(abspath):  # a relative path changes meaning with the cwd
            return scan(abspath, self.ignore, base, self.jobs)
        clock = watcher.refresh()
        tree = f"{abspath}\0{base}\0{self.ignore_id}"
        if not watcher.watching(abspath):
            listings = scan(abspath, self.ignore, base, self.jobs)
            if sum(lst.count for lst in listings) >= watch.WATCH_MIN_FILES:
                watcher.ask(abspath)  # listed before the watch began: the next command lists it again
            return listings
        stored = self.state.get_tree(tree)
        if stored is not None and stored[0] == watcher.id:
            listings, restored = rescan(
                abspath, stored[2], lambda folder: watcher.changed(folder, stored[1]), self.ignore, base
            )
            self.stats.folders_restored += restored
        else:
            listings = scan(abspath, self.ignore, base, self.jobs)
        self.state.put_tree(tree, watcher.id, clock, summarize(listings))
        return listings

    def _hash_files(
        self, todo: Sequence[_Stat], done: int, total: int, progress: Progress | None
    ) -> dict[int, str]:
        """md5 of each file keyed by inode; many small files run inline, large sets on threads."""
        work = sum(s.size for s in todo)
        result: dict[int, str] = {}
        if self.jobs == 1 or work < PARALLEL_MIN_BYTES or len(todo) < 2:
            for s in todo:
                result[s.inode] = file_md5(s.abspath, s.size)
                self.stats.add_read(s.size)
                done += s.size
                if progress is not None:
                    progress(done, total)
            return result

        from concurrent.futures import ThreadPoolExecutor, as_completed  # only big jobs pay for it

        def run(batch: list[_Stat]) -> list[tuple[_Stat, str]]:
            out = []
            for s in batch:
                out.append((s, file_md5(s.abspath, s.size)))
                self.stats.add_read(s.size)
            return out

        # Largest first so one big file does not finish last on a single thread.
        batches: list[list[_Stat]] = []
        current: list[_Stat] = []
        current_bytes = 0
        for s in sorted(todo, key=lambda s: -s.size):
            current.append(s)
            current_bytes += s.size
            if current_bytes >= BATCH_BYTES:
                batches.append(current)
                current, current_bytes = [], 0
        if current:
            batches.append(current)
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="jupyter-exp-hash") as pool:
            for future in as_completed([pool.submit(run, batch) for batch in batches]):
                for s, md5 in future.result():
                    result[s.inode] = md5
                    done += s.size
                if progress is not None:
                    progress(done, total)
        return result
