"""The content-addressed cache, laid out as DVC 3's: ``<cache>/files/md5/<2 hex>/<30 hex>[.dir]``.

Objects are written to a temp file in the cache's own ``tmp/`` folder and renamed into place, then
made read-only (0o444) as DVC does, so a crash never leaves a half object and a hard-linked workspace
file cannot be edited through by accident. A temp file is named after its writer (host and pid); what
a killed writer left is removed by the next writer and by ``gc``. Directories are stored as their files' objects plus the
``.dir`` manifest object.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import stat
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, zip_longest
from pathlib import Path

from jupyter_exp.data.files import NO_REFLINK, copy_new, each, reflink, remove_path, tmp_beside
from jupyter_exp.errors import CacheError, DirtyWorkspaceError
from jupyter_exp.fsutil import HOST, writer_gone

from .hashing import (
    CHUNK_SIZE,
    DIR_SUFFIX,
    Hasher,
    HashInfo,
    Progress,
    TreeEntry,
    manifest_bytes,
    parse_manifest,
)

LINK_TYPES = ("reflink", "hardlink", "symlink", "copy")
CACHE_MODE = 0o444
StateRow = tuple[int, int, int, str]  # (inode, mtime_ns, size, md5) for the state db

_umask = os.umask(0)
os.umask(_umask)
_FILE_MODE = 0o666 & ~_umask
_MD5 = re.compile(r"[0-9a-f]{32}")
# Objects up to this size are written beside their final name (see ``_store_file``).
BESIDE_MAX = 1024 * 1024
_LIST_ABOVE = 2048  # objects of one manifest above which listing the 256 folders beats a stat per object


@dataclass
class CheckoutResult:
    """What a checkout changed in the workspace, as paths relative to the repo root."""

    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.modified or self.deleted)


class Cache:
    """Objects of one repository's cache, plus saving workspace data into it and checking it out.

    ``cache_dir`` defaults to ``<repo>/.dvc/cache`` (a relative one is taken from the repo root);
    ``link_types`` are tried in order when placing data in the workspace, as DVC's ``cache.type``.
    """

    def __init__(
        self,
        repo_root: str | os.PathLike[str],
        cache_dir: str | os.PathLike[str] | None = None,
        link_types: Sequence[str] = ("copy",),
        *,
        hasher: Hasher | None = None,
    ) -> None:
        self.root = Path(repo_root)
        self.cache_dir = self.root / (cache_dir if cache_dir is not None else Path(".dvc", "cache"))
        self.objects_dir = self.cache_dir / "files" / "md5"
        unknown = [kind for kind in link_types if kind not in LINK_TYPES]
        if unknown or not link_types:
            raise CacheError(
                f"cache link types {list(link_types)!r} are not valid: use some of {', '.join(LINK_TYPES)}"
            )
        self.link_types = tuple(link_types)
        self.hasher = hasher if hasher is not None else Hasher(self.root)
        # Set at the first clone the file system refuses: each failed try creates and deletes a file,
        # which doubled the cost of every file saved or checked out on ext4 (the default type list).
        self._no_reflink = False
        self.tmp_dir = self.cache_dir / "tmp"
        self._cleaned = False
        self._folders_made: set[str] = set()

    # -- partial objects ------------------------------------------------------------------------

    def tmp_path(self) -> Path:
        """A fresh temp file name for an object being written (same file system, so rename is atomic).

        The first call of a process also removes the partial objects of writers that died."""
        self._clean_once()
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        return self.tmp_dir / f"{HOST}-{os.getpid()}-{os.urandom(6).hex()}.tmp"

    def _clean_once(self) -> None:
        """The first write of a process removes the partial objects of writers that died in tmp/."""
        if not self._cleaned:
            self._cleaned = True
            self.clean_partials()

    def clean_partials(self, objects: bool = False) -> int:
        """Remove temp files whose writer is gone (a SIGKILL during ``add``); returns how many.
        ``objects``: also those beside objects in their folders (a listing of every folder: ``gc``)."""
        removed = 0
        now = time.time()
        folders = [self.tmp_dir]
        if objects and self.objects_dir.is_dir():
            folders += [Path(e.path) for e in os.scandir(self.objects_dir) if len(e.name) == 2]
        for folder in folders:
            try:
                entries = [e for e in os.scandir(folder) if e.name.endswith(".tmp")]
            except FileNotFoundError:
                continue
            for entry in entries:
                # "<host>-<pid>-<random>.tmp" in tmp/, ".<object name>.<host>-<pid>-<random>.tmp" beside objects
                writer = entry.name if folder == self.tmp_dir else _writer_part(entry.name)
                try:
                    if writer_gone(writer, now, entry.stat().st_mtime):
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed

    # -- objects ------------------------------------------------------------------------------

    def object_path(self, md5: str) -> Path:
        """Where the object with this hash (``.dir`` suffix for manifests) lives."""
        if not _MD5.fullmatch(md5.removesuffix(DIR_SUFFIX)):
            raise CacheError(f"'{md5}' is not an md5 hash")
        return self.objects_dir / md5[:2] / md5[2:]

    def exists(self, hash_info: HashInfo) -> bool:
        """Whether the object, and for a directory every file it lists, is in the cache."""
        manifest = self.object_path(hash_info.md5)
        if not manifest.is_file():
            return False
        if not hash_info.isdir:
            return True
        if manifest.stat().st_size < _LIST_ABOVE * 80:  # ~80 bytes a row: a few stats beat the memo's 256
            return self._all_present({e.md5 for e in self.load_dir_manifest(hash_info.md5)})
        # A folder's mtime moves whenever an object is added to it or removed from it, so while no
        # ``<2 hex>`` folder moved, a manifest found complete is still complete (256 stats, not a million).
        if self.hasher.state.get_dir(self._complete_key(hash_info.md5)) is not None:
            return True
        if not self._all_present({e.md5 for e in self.load_dir_manifest(hash_info.md5)}):
            return False
        self._remember_complete(hash_info.md5)
        return True

    def _complete_key(self, md5: str) -> str:
        return f"in-cache:{md5}:{self._folders_state()}"

    def _remember_complete(self, md5: str) -> None:
        """Note that every object of directory ``md5`` is in the cache, while no object folder moves."""
        self.hasher.state.put_dir(self._complete_key(md5), md5, 0, 0)

    def _folders_state(self) -> str:
        """md5 over the names and mtimes of the object folders."""
        with os.scandir(self.objects_dir) as entries:
            stamps = sorted(f"{e.name}:{e.stat().st_mtime_ns}" for e in entries if len(e.name) == 2)
        return hashlib.md5(",".join(stamps).encode(), usedforsecurity=False).hexdigest()

    def _all_present(self, md5s: set[str]) -> bool:
        """Whether every object is in the cache: a stat each when few, else one listing per ``<2 hex>``
        folder (a million stats through ``object_path`` took 10 of a 15 s ``status`` at 1M files)."""
        if not all(_MD5.fullmatch(md5) for md5 in md5s):
            return False  # a manifest naming something that is not an md5 lists nothing we could hold
        root = str(self.objects_dir)
        if len(md5s) < _LIST_ABOVE:
            return all(os.path.isfile(os.path.join(root, md5[:2], md5[2:])) for md5 in md5s)
        by_prefix: dict[str, set[str]] = {}
        for md5 in md5s:
            by_prefix.setdefault(md5[:2], set()).add(md5[2:])
        for prefix, names in by_prefix.items():
            try:
                if not names.issubset(os.listdir(os.path.join(root, prefix))):
                    return False
            except FileNotFoundError:
                return False
        return True

    def load_dir_manifest(self, md5: str) -> list[TreeEntry]:
        """Entries of the ``.dir`` object ``md5`` (sizes are not stored there: they read as -1)."""
        path = self.object_path(md5)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise CacheError(f"directory manifest '{md5}' is not in the cache ({path})") from exc
        return parse_manifest(data, str(path))

    def all_objects(self) -> Iterator[str]:
        """Hashes of every object in the cache (manifests with their ``.dir`` suffix)."""
        if not self.objects_dir.is_dir():
            return
        with os.scandir(self.objects_dir) as prefixes:
            for prefix in prefixes:
                if len(prefix.name) != 2 or not prefix.is_dir():
                    continue
                with os.scandir(prefix.path) as objects:
                    for obj in objects:
                        if not obj.name.startswith(".") and len(obj.name.removesuffix(DIR_SUFFIX)) == 30:
                            yield prefix.name + obj.name

    def gc(self, keep: Iterable[str]) -> int:
        """Remove every object not in ``keep`` nor listed by a kept ``.dir``; return how many went."""
        keep_all = set(keep)
        for md5 in list(keep_all):
            if md5.endswith(DIR_SUFFIX) and self.object_path(md5).is_file():
                keep_all.update(e.md5 for e in self.load_dir_manifest(md5))
        removed = 0
        for md5 in list(self.all_objects()):
            if md5 not in keep_all:
                self.object_path(md5).unlink()
                removed += 1
        return removed + self.clean_partials(objects=True)

    # -- save -----------------------------------------------------------------------------------

    def save(
        self,
        path: str | os.PathLike[str],
        hash_info: HashInfo | None = None,
        progress: Progress | None = None,
    ) -> HashInfo:
        """Store a file or directory in the cache; the workspace keeps the same content.

        With hardlink/symlink link types the workspace files become links into the cache (as in
        DVC). ``hash_info``, when given, must still describe ``path``.
        """
        abspath = self.root / path
        if abspath.is_dir():
            info, entries = self.hasher.hash_tree(path)
        else:
            info, entries = self.hasher.hash(path), []
        if hash_info is not None and hash_info.md5 != info.md5:
            raise CacheError(f"'{path}' changed since it was hashed ({hash_info.md5} -> {info.md5})")
        total = info.size
        with self.hasher.state.batch():
            if info.isdir:
                done = list(accumulate(e.size for e in entries)) if progress is not None else []
                report = None if progress is None else (lambda index: progress(done[index], total))
                rows = each(lambda e: self._store_file(abspath / e.relpath, e.md5, e.size), entries, report)
                self.hasher.state.put_files(row for some in rows for row in some)
                manifest = self.object_path(info.md5)
                if not manifest.is_file():
                    self._write_object(manifest, manifest_bytes(entries))
                if len(entries) >= _LIST_ABOVE:  # all stored: the next status need not list the cache
                    self._remember_complete(info.md5)
            else:
                self.hasher.state.put_files(self._store_file(abspath, info.md5, info.size))
        if progress is not None:
            progress(total, total)
        return info

    def ingest(self, path: str | os.PathLike[str], progress: Progress | None = None) -> HashInfo:
        """Hash a file and copy it into the cache, for outputs rewritten on every use (a model saved at
        each checkpoint: its hash is never in the state db).

        The file was just written, so it is in the page cache: hashing reads it from there, and the copy
        then happens inside the kernel (``shutil.copyfile``: sendfile on Linux), skipped when the object
        exists. Copying through Python's buffers while hashing took twice as long for a 100 MB model
        here (1.27 s against 0.45-0.52 s, median under load). The file must not change meanwhile (a
        training waits for its checkpoint); if its size, mtime or inode did, it is read again.
        """
        abspath = self.root / path
        for _attempt in range(3):
            before = os.stat(abspath)
            md5, size = self._md5_of(abspath, before.st_size, progress)
            dst = self.object_path(md5)
            if not dst.is_file():
                self.objects_dir.mkdir(parents=True, exist_ok=True)
                tmp = self.tmp_path()
                try:
                    shutil.copyfile(abspath, tmp)
                    if not _same_file_state(before, os.stat(abspath)):
                        tmp.unlink()
                        continue  # rewritten while we read it: what was copied may not be what was hashed
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    os.chmod(tmp, CACHE_MODE)
                    os.replace(tmp, dst)
                except BaseException:
                    tmp.unlink(missing_ok=True)
                    raise
            elif not _same_file_state(before, os.stat(abspath)):
                continue
            self.hasher.remember(str(abspath), md5)
            return HashInfo(md5, size, None, bool(before.st_mode & stat.S_IXUSR))
        raise CacheError(f"'{path}' kept changing while it was being cached: nothing may write it meanwhile")

    @staticmethod
    def _md5_of(abspath: Path, total: int, progress: Progress | None) -> tuple[str, int]:
        hasher = hashlib.md5(usedforsecurity=False)
        buf = bytearray(CHUNK_SIZE)
        view = memoryview(buf)
        done = 0
        with open(abspath, "rb", buffering=0) as src:
            while count := src.readinto(buf):
                hasher.update(view[:count])
                done += count
                if progress is not None:
                    progress(done, total)
        return hasher.hexdigest(), done

    def _write_object(self, dst: Path, data: bytes) -> None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp_path()
        tmp.write_bytes(data)
        os.chmod(tmp, CACHE_MODE)
        os.replace(tmp, dst)

    def _store_file(self, src: Path, md5: str, size: int) -> list[StateRow]:
        """Put ``src``'s content in the cache under ``md5`` and, for link types, link it back
        (the state row of the new link is returned, not written: this runs on threads)."""
        dst = self.object_path(md5)
        linking = self.link_types[0] in ("hardlink", "symlink")
        if dst.is_file():
            if linking and not self._is_link_to(src, dst):
                return [self._place(dst, src, md5, isexec=False)]
            return []
        folder = str(dst.parent)
        if folder not in self._folders_made:  # one mkdir per object folder, not one per file
            dst.parent.mkdir(parents=True, exist_ok=True)
            self._folders_made.add(folder)
        if self.link_types[0] == "symlink" and not src.is_symlink():
            # moved straight into place (never via tmp/, whose leftovers are deleted): a crash before the
            # link below leaves the data in the cache, where checkout finds it
            os.rename(src, dst)
            os.chmod(dst, CACHE_MODE)
            return [self._place(dst, src, md5, isexec=False)]
        # Small objects are written in their own folder: a rename between folders takes a lock of the whole
        # file system, and writers on threads queued on it (2-3.5x slower at 1 KB files); only ``gc`` finds
        # a killed writer's leftover there. Large ones go through tmp/, cleaned by the next writer.
        if size <= BESIDE_MAX:
            self._clean_once()
            tmp = tmp_beside(dst)
        else:
            tmp = self.tmp_path()
        try:
            for kind in self.link_types:
                try:
                    if kind == "reflink":
                        self._reflink(src, tmp)
                    elif kind == "hardlink":
                        os.link(src, tmp)
                    elif kind == "copy":
                        copy_new(src, tmp, CACHE_MODE)
                    else:
                        continue
                    break
                except OSError:
                    continue
            else:
                copy_new(src, tmp, CACHE_MODE)
            os.chmod(tmp, CACHE_MODE)
            os.replace(tmp, dst)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return []

    def _reflink(self, src: Path, dst: Path) -> None:
        if self._no_reflink:
            raise OSError(errno.ENOTSUP, "reflink unsupported")
        try:
            reflink(src, dst)
        except OSError as exc:
            if exc.errno in NO_REFLINK:
                self._no_reflink = True
            raise

    @staticmethod
    def _is_link_to(src: Path, dst: Path) -> bool:
        try:
            return os.path.samefile(src, dst)
        except OSError:
            return False

    # -- checkout -------------------------------------------------------------------------------

    def checkout(
        self,
        path: str | os.PathLike[str],
        hash_info: HashInfo,
        *,
        force: bool = False,
        progress: Progress | None = None,
    ) -> CheckoutResult:
        """Make ``path`` hold exactly ``hash_info``'s content from the cache.

        Files whose content is in the cache are replaced or removed freely; anything else that
        would be lost raises :class:`DirtyWorkspaceError` (naming the paths) unless ``force``.
        Nothing is changed when the check fails.
        """
        if not self.exists(hash_info):
            raise CacheError(
                f"cannot check out '{path}': {hash_info.md5} (or part of it) is not in the cache"
            )
        rel = Path(path).as_posix()
        abspath = self.root / path

        def show(relpath: str) -> str:
            return f"{rel}/{relpath}" if relpath else rel

        if hash_info.isdir:
            wanted = {e.relpath: e.md5 for e in self.load_dir_manifest(hash_info.md5)}
        else:
            wanted = {"": hash_info.md5}
        current, in_the_way = self._workspace_state(abspath, target_is_dir=hash_info.isdir)
        add = [r for r in wanted if r not in current]
        modify = [r for r in wanted if r in current and current[r] != wanted[r]]
        delete = [r for r in current if r not in wanted]
        if not force:
            at_risk = [(show(r), current[r]) for r in modify + delete] + list(in_the_way.items())
            dirty = [shown for shown, md5 in at_risk if md5 is None or not self.object_path(md5).is_file()]
            if dirty:
                listed = ", ".join(f"'{d}'" for d in dirty[:5])
                if len(dirty) > 5:
                    listed += f" and {len(dirty) - 5} more"
                raise DirtyWorkspaceError(
                    f"checking out '{rel}' would overwrite {listed}: not saved in the cache (use force to discard)"
                )

        if os.path.lexists(abspath) and abspath.is_dir() != hash_info.isdir:
            remove_path(abspath)  # the workspace holds a file where a directory goes, or the reverse
        if hash_info.isdir:
            abspath.mkdir(parents=True, exist_ok=True)  # even when the manifest lists no files
        for r in delete:
            remove_path(abspath / r)
        self._prune_empty_dirs(abspath, delete)
        todo = _across_folders(add + modify)
        isexec = hash_info.isexec and not hash_info.isdir
        def place(r: str) -> StateRow:
            return self._place(self.object_path(wanted[r]), abspath / r if r else abspath, wanted[r], isexec)

        report = None if progress is None else (lambda index: progress(index + 1, len(todo)))
        self.hasher.state.put_files(each(place, todo, report))
        if isexec and not todo:
            self._ensure_exec(abspath)
        return CheckoutResult(
            added=[show(r) for r in add],
            modified=[show(r) for r in modify],
            deleted=[show(r) for r in delete] + list(in_the_way),
        )

    def _workspace_state(
        self, abspath: Path, *, target_is_dir: bool
    ) -> tuple[dict[str, str | None], dict[str, str | None]]:
        """(what is there now keyed like the target's entries, what is in the way of the target).

        Keys of the first are relpaths inside the directory ("" for a file target); the second
        maps repo-relative paths of data of the wrong kind (a file where a directory goes, or
        the reverse) to their md5. ``None`` marks content that cannot be hashed (broken link).
        """
        if not os.path.lexists(abspath):
            return {}, {}
        rel = abspath.relative_to(self.root).as_posix()
        if abspath.is_dir():
            _, entries = self.hasher.hash_tree(abspath)
            if target_is_dir:
                return {e.relpath: e.md5 for e in entries}, {}
            return {}, {f"{rel}/{e.relpath}": e.md5 for e in entries}
        md5 = self.hasher.hash(abspath).md5 if abspath.exists() else None
        return ({}, {rel: md5}) if target_is_dir else ({"": md5}, {})

    def _prune_empty_dirs(self, top: Path, deleted: Iterable[str]) -> None:
        parents = {(top / r).parent for r in deleted}
        for parent in sorted(parents, key=lambda p: len(p.parts), reverse=True):
            while parent != top and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent

    def _place(self, obj: Path, target: Path, md5: str, isexec: bool) -> StateRow:
        """Put the cache object at ``target`` with the first link type that works, atomically;
        returns the state row that spares hashing it again."""
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir() and not target.is_symlink():
            target.rmdir()  # emptied by the deletions above
        tmp = tmp_beside(target)
        for kind in self.link_types:
            try:
                if kind == "reflink":
                    self._reflink(obj, tmp)
                    os.chmod(tmp, _FILE_MODE)
                elif kind == "hardlink":
                    os.link(obj, tmp)
                elif kind == "symlink":
                    os.symlink(obj, tmp)
                else:
                    copy_new(obj, tmp, 0o666)  # the umask applies, as for any file the user creates
                break
            except OSError:
                continue
        else:
            copy_new(obj, tmp, 0o666)
        if isexec and kind in ("reflink", "copy"):
            self._ensure_exec(tmp)  # never on links: that would change the shared cache object
        os.replace(tmp, target)
        st = os.stat(target)
        return (st.st_ino, st.st_mtime_ns, st.st_size, md5)

    @staticmethod
    def _ensure_exec(path: Path) -> None:
        mode = os.stat(path).st_mode
        if not mode & stat.S_IXUSR:
            with contextlib.suppress(OSError):  # e.g. a hard link to a cache file we do not own
                os.chmod(path, mode | ((mode & 0o444) >> 2))

    def changed(self, path: str | os.PathLike[str], hash_info: HashInfo) -> bool:
        """Whether the workspace ``path`` differs from ``hash_info`` (cheap: uses the state db)."""
        return self.hasher.changed(path, hash_info)


def _across_folders(relpaths: list[str]) -> list[str]:
    """``relpaths`` taking one folder after another (each folder's own files in order), so the threads that
    create them rarely work in one folder at a time: creates in one folder wait on that folder's lock."""
    by_folder: dict[str, list[str]] = {}
    for relpath in relpaths:
        by_folder.setdefault(relpath.rpartition("/")[0], []).append(relpath)
    if len(by_folder) < 2:
        return relpaths
    return [r for group in zip_longest(*by_folder.values()) for r in group if r is not None]


def _writer_part(name: str) -> str:
    """``<host>-<pid>-<random>.tmp`` of a temp name ``.<object name>.<host>-<pid>-<random>.tmp``."""
    rest = name[1:].partition(".")[2]
    return rest[len("dir.") :] if rest.startswith("dir.") else rest


def _same_file_state(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_ino, a.st_size, a.st_mtime_ns) == (b.st_ino, b.st_size, b.st_mtime_ns)
