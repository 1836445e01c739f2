"""The Git layer: commits, trees and refs through dulwich, never the ``git`` binary.

Experiments live on custom refs and are committed straight from the workspace files, so nothing here
moves HEAD, the index or a branch unless asked to by name (``set_ref``).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from jupyter_exp.errors import NotARepoError, RefRaceError, SCMError

if TYPE_CHECKING:
    from dulwich.ignore import IgnoreFilterManager
    from dulwich.objects import Tree
    from dulwich.repo import Repo as DulwichRepo

__all__ = ["CommitInfo", "Git", "GitTree", "FileEntry", "TreeAtCommit"]

#: (mode, blob sha) of one file in a tree, keyed by its POSIX path.
FileEntry = tuple[int, bytes]

_SHA_RE = re.compile(r"^[0-9a-fA-F]{4,40}$")
_SUFFIX_RE = re.compile(r"^(?P<base>.*?)(?P<ops>(?:[~^][0-9]*)*)$")
_TREE_MODE = stat.S_IFDIR
_DEFAULT_IDENTITY = b"jupyter-exp <jupyter-exp@localhost>"


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
    """:class:`jupyter_exp.fsutil.TreeReader` over a commit's tree; subtrees are read on first use."""

    def __init__(self, store: Any, tree_sha: bytes) -> None:
        self._store = store
        self.sha = tree_sha.decode()
        self._dirs: dict[str, dict[str, FileEntry]] = {}
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
        tree: Tree = self._store[sha]
        result = {item.path.decode(): (item.mode, item.sha) for item in tree.iteritems()}
        self._dirs[dirpath] = result
        return result

    def entry(self, path: str) -> FileEntry | None:
        """(mode, sha) of ``path`` or None when it does not exist."""
        path = path.strip("/")
        if not path or path == ".":
            return (_TREE_MODE, self._root_sha)
        parent, _, name = path.rpartition("/")
        listing = self._listing(parent)
        return None if listing is None else listing.get(name)

    def read_bytes(self, path: str) -> bytes:
        entry = self.entry(path)
        if entry is None or stat.S_ISDIR(entry[0]):
            raise FileNotFoundError(f"'{path}' is not a file in tree {self.sha[:7]}")
        return self._store[entry[1]].as_raw_string()

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
            elif not _is_gitlink(mode):
                yield child, mode, sha


class TreeAtCommit(NamedTuple):
    """A commit's files with its time and parents (see :meth:`Git.tree_at_commit`)."""

    tree: GitTree
    time: int  # commit time, seconds since the epoch
    tz: int  # commit timezone offset, seconds
    parents: list[str]


def _is_gitlink(mode: int) -> bool:
    return stat.S_IFMT(mode) == 0o160000


def _file_mode(st: os.stat_result) -> int:
    if stat.S_ISLNK(st.st_mode):
        return 0o120000
    return 0o100755 if st.st_mode & 0o111 else 0o100644


def _mtime_ns(value: int | float | tuple[int, int]) -> int:
    if isinstance(value, tuple):
        return value[0] * 1_000_000_000 + value[1]
    return int(value * 1_000_000_000)


class Git:
    """One Git repository (work tree at ``root``), opened with dulwich."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        from dulwich.errors import NotGitRepository
        from dulwich.repo import Repo

        self.root = Path(root).resolve()
        try:
            self.repo: DulwichRepo = Repo(str(self.root))
        except NotGitRepository as exc:
            raise NotARepoError(f"'{self.root}' is not a Git repository (run `git init`)") from exc
        #: The Git directory every work tree of the repository shares: objects, refs, config.
        self.common_dir = Path(self.repo.commondir())
        self._identity: tuple[bytes, bytes] | None = None

    @classmethod
    def init_bare(cls, path: Path) -> Git:
        """Create an empty bare repository in the new folder ``path`` (a store for another's objects)."""
        from dulwich.repo import Repo

        Repo.init_bare(str(path), mkdir=True).close()
        return cls(path)

    # ----------------------------------------------------------------- revisions
    def head(self) -> str:
        """Sha of the commit HEAD points at."""
        try:
            return self.repo.refs[b"HEAD"].decode()
        except KeyError:
            raise SCMError("The Git repository has no commits yet: commit something first") from None

    def branch(self) -> str | None:
        """Name of the checked-out branch, None on a detached HEAD."""
        target = self.repo.refs.read_ref(b"HEAD")
        if target and target.startswith(b"ref: refs/heads/"):
            return target[len(b"ref: refs/heads/") :].decode()
        return None

    def resolve(self, rev: str) -> str:
        """Commit sha of ``rev``: sha or prefix, HEAD, branch, tag, ``refs/...``, with ``^``/``~N`` suffixes."""
        if rev.startswith("-"):  # an option to git, never a revision: refused before any git tool sees it
            raise SCMError(f"Invalid Git revision '{rev}': a revision cannot start with '-'")
        match = _SUFFIX_RE.match(rev.strip())
        assert match is not None
        base, ops = match["base"], match["ops"]
        sha = self._resolve_base(base or "HEAD", rev)
        for op, num in re.findall(r"([~^])([0-9]*)", ops):
            count = int(num) if num else 1
            if op == "^":
                sha = self._parent(sha, count, rev)
            else:
                for _ in range(count):
                    sha = self._parent(sha, 1, rev)
        return sha

    def _parent(self, sha: str, nth: int, rev: str) -> str:
        if nth == 0:
            return sha
        parents = self.repo[sha.encode()].parents
        if len(parents) < nth:
            raise SCMError(f"Unknown Git revision '{rev}': commit {sha[:7]} has no parent {nth}")
        return parents[nth - 1].decode()

    def _resolve_base(self, base: str, rev: str) -> str:
        if len(base) == 40 and _SHA_RE.match(base) and base.lower().encode() in self.repo.object_store:
            return self._peel(base.lower().encode(), rev)
        refs = self.repo.refs
        candidates = [base] if base == "HEAD" or base.startswith("refs/") else []
        candidates += [f"refs/{base}", f"refs/tags/{base}", f"refs/heads/{base}", f"refs/remotes/{base}"]
        for name in candidates:
            try:
                sha = refs[name.encode()]
            except (KeyError, ValueError):
                continue
            return self._peel(sha, rev)
        if _SHA_RE.match(base):
            prefix = base.lower().encode()
            if len(prefix) < 40:
                found = set(self.repo.object_store.iter_prefix(prefix))
                commits = [sha for sha in found if self.repo[sha].type_name in (b"commit", b"tag")]
                if len(commits) == 1:
                    return self._peel(commits[0], rev)
                if len(commits) > 1:
                    raise SCMError(f"Ambiguous Git revision '{rev}': {len(commits)} commits start with it")
        raise SCMError(f"Unknown Git revision '{rev}'")

    def _peel(self, sha: bytes, rev: str) -> str:
        obj = self.repo[sha]
        while obj.type_name == b"tag":
            obj = self.repo[obj.object[1]]
        if obj.type_name != b"commit":
            raise SCMError(f"Git revision '{rev}' is a {obj.type_name.decode()}, not a commit")
        return obj.id.decode()

    def tree(self, rev: str) -> GitTree:
        """Read-only view of the files of ``rev`` (no checkout)."""
        sha = self.resolve(rev)
        return GitTree(self.repo.object_store, self.repo[sha.encode()].tree)

    def tree_at_commit(self, sha: str) -> TreeAtCommit:
        """The files, time and parents of commit ``sha`` from one object read, without the decoding
        :meth:`commit_info` does: what ``exp show`` reads of every commit it has not seen yet."""
        commit = self.repo[sha.encode()]
        return TreeAtCommit(
            GitTree(self.repo.object_store, commit.tree),
            commit.commit_time,
            commit.commit_timezone,
            [p.decode() for p in commit.parents],
        )

    def commit_info(self, sha: str) -> CommitInfo:
        commit = self.repo[sha.encode()]
        tz = timezone(timedelta(seconds=commit.commit_timezone))
        return CommitInfo(
            sha=commit.id.decode(),
            message=commit.message.decode("utf-8", "replace"),
            parents=tuple(p.decode() for p in commit.parents),
            time=datetime.fromtimestamp(commit.commit_time, tz),
            author=commit.author.decode("utf-8", "replace"),
            tree=commit.tree.decode(),
        )

    def has_commit(self, sha: str) -> bool:
        return sha.encode() in self.repo.object_store

    def ancestors(self, sha: str, stop: Iterable[str] = ()) -> Iterator[str]:
        """First-parent chain from ``sha`` (included) until a commit in ``stop`` (excluded) or the root."""
        stops = set(stop)
        current: str | None = sha
        while current is not None and current not in stops:
            yield current
            parents = self.repo[current.encode()].parents
            current = parents[0].decode() if parents else None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """True when ``ancestor`` is reachable from ``descendant`` (any parent)."""
        todo, seen = [descendant], set()
        while todo:
            sha = todo.pop()
            if sha == ancestor:
                return True
            if sha in seen:
                continue
            seen.add(sha)
            todo.extend(p.decode() for p in self.repo[sha.encode()].parents)
        return False

    def branches(self) -> dict[str, str]:
        return {ref[len("refs/heads/") :]: sha for ref, sha in self.refs("refs/heads/").items()}

    def tags(self) -> dict[str, str]:
        result = {}
        for ref, sha in self.refs("refs/tags/").items():
            try:
                result[ref[len("refs/tags/") :]] = self._peel(sha.encode(), ref)
            except SCMError:
                continue
        return result

    def all_commits(self) -> list[str]:
        """Every commit reachable from a branch or tag, newest first."""
        heads = [sha.encode() for sha in {**self.refs("refs/heads/"), **self.tags()}.values()]
        if not heads:
            return []
        return [entry.commit.id.decode() for entry in self.repo.get_walker(include=heads)]

    # ----------------------------------------------------------------------- refs
    def refs(self, prefix: str = "refs/") -> dict[str, str]:
        """All refs under ``prefix`` -> sha, read in one pass over loose refs and ``packed-refs``."""
        prefix = prefix.rstrip("/") + "/"
        result: dict[str, str] = {}
        packed = self.common_dir / "packed-refs"
        if packed.exists():
            for line in packed.read_text().splitlines():
                if not line or line[0] in "#^":
                    continue
                sha, _, name = line.partition(" ")
                if name.startswith(prefix):
                    result[name] = sha
        top = self.common_dir / prefix
        symbolic = []
        for dirpath, _dirs, files in os.walk(top):
            rel_dir = Path(dirpath).relative_to(self.common_dir).as_posix()
            for name in files:
                if name.endswith(".lock"):
                    continue
                ref = f"{rel_dir}/{name}"
                try:
                    content = Path(dirpath, name).read_text().strip()
                except OSError:
                    continue
                if content.startswith("ref: "):
                    symbolic.append(ref)
                elif len(content) == 40:
                    result[ref] = content
        for ref in symbolic:
            sha = self.get_ref(ref)
            if sha:
                result[ref] = sha
        return result

    def get_ref(self, ref: str) -> str | None:
        try:
            return self.repo.refs[ref.encode()].decode()
        except KeyError:
            return None

    def set_ref(self, ref: str, sha: str, *, old: str | None = None) -> None:
        """Point ``ref`` at ``sha``; with ``old``, only if it still points there (dulwich's
        ``set_if_equals``), else :class:`RefRaceError` and nothing changes.

        Written as Git does (``<ref>.lock``, then rename; no fsync, no reflog), which keeps a ref
        update well under a millisecond.
        """
        self._write_ref(ref, sha, expected=old, check=old is not None)

    def add_ref(self, ref: str, sha: str) -> None:
        """Create ``ref`` at ``sha`` only if it does not exist yet (dulwich's ``add_if_new``), else
        :class:`RefRaceError` and nothing changes."""
        self._write_ref(ref, sha, expected=None, check=True)

    def _write_ref(self, ref: str, sha: str, *, expected: str | None, check: bool) -> None:
        from dulwich.refs import check_ref_format

        if not check_ref_format(ref.encode()):
            raise SCMError(f"'{ref}' is not a valid Git ref name")
        path = self.common_dir / ref
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = path.with_name(path.name + ".lock")
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise RefRaceError(f"Git ref '{ref}' is locked by another process ('{lock}' exists)") from None
        try:
            if check and self.get_ref(ref) != expected:
                moved = "created" if expected is None else "moved"
                raise RefRaceError(f"Git ref '{ref}' was {moved} by another process; nothing was changed")
            os.write(fd, f"{sha}\n".encode())
            os.close(fd)
            fd = -1
            os.replace(lock, path)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            lock.unlink(missing_ok=True)
            raise

    def set_symbolic_ref(self, ref: str, target: str) -> None:
        (self.common_dir / ref).parent.mkdir(parents=True, exist_ok=True)
        self.repo.refs.set_symbolic_ref(ref.encode(), target.encode())

    def delete_ref(self, ref: str) -> None:
        self.repo.refs.remove_if_equals(ref.encode(), None)

    def delete_refs(self, refs: Iterable[str]) -> None:
        """Delete many refs with one rewrite of ``packed-refs`` (deleting one at a time rewrites it
        per ref: 22 s for 1,000 packed experiment refs), then the loose ref files there are (dulwich
        would create and remove a lock folder for each ref that has none: 8 s more)."""
        refs = list(refs)
        packed = self.repo.refs.get_packed_refs()
        self.repo.refs.add_packed_refs({ref.encode(): None for ref in refs if ref.encode() in packed})
        for ref in refs:
            if os.path.lexists(self.common_dir / ref):
                self.repo.refs.remove_if_equals(ref.encode(), None)

    # ------------------------------------------------------------------ workspace
    def _ignore_manager(self) -> IgnoreFilterManager:
        from dulwich.ignore import IgnoreFilterManager

        return IgnoreFilterManager.from_repo(self.repo)

    def is_ignored(self, path: str) -> bool:
        """True when Git ignores ``path`` (relative to the root), as ``git check-ignore`` says."""
        path = Path(path).as_posix().strip("/")
        if (self.root / path).is_dir():
            path += "/"
        return bool(self._ignore_manager().is_ignored(path))

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
        from dulwich.index import ConflictedIndexEntry
        from dulwich.objects import Blob

        store = self.repo.object_store
        index = self.repo.open_index()
        index_path = Path(self.repo.index_path())
        index_mtime_ns = index_path.stat().st_mtime_ns if index_path.exists() else 0
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
                store.add_object(blob)
            return blob.id

        result: dict[str, FileEntry] = {}
        tracked_entries: dict[str, Any] = {}
        for raw_path, entry in index.items():
            if isinstance(entry, ConflictedIndexEntry) or _is_gitlink(entry.mode):
                continue
            tracked_entries[raw_path.decode()] = entry
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

    def write_blob(self, data: bytes) -> bytes:
        """Store ``data`` as a blob (when new); returns its sha, as a :data:`FileEntry` holds it."""
        from dulwich.objects import Blob

        blob = Blob.from_string(data)
        if blob.id not in self.repo.object_store:
            self.repo.object_store.add_object(blob)
        return blob.id

    def read_blob(self, sha: bytes) -> bytes:
        """Content of the blob ``sha`` (as a :data:`FileEntry` holds it)."""
        return self.repo.object_store[sha].as_raw_string()

    def export_objects(self, commits: Iterable[str], *, exclude: Iterable[str] = ()) -> bytes:
        """The ``commits`` with their trees and blobs (not their parents), as bytes for
        :meth:`import_objects` in another repository: how a Dask task carries its Git objects.

        Objects in ``exclude`` are left out, and so is everything under an excluded tree (the other side
        has it). The format, ``<type> <size>\\n<raw>`` records compressed, is dulwich-version independent.
        """
        store = self.repo.object_store
        seen = {sha.encode() for sha in exclude}
        out = bytearray()
        todo = [sha.encode() for sha in commits]
        while todo:
            obj_id = todo.pop()
            if obj_id in seen:
                continue
            seen.add(obj_id)
            obj = store[obj_id]
            raw = obj.as_raw_string()
            out += b"%d %d\n" % (obj.type_num, len(raw))
            out += raw
            if obj.type_name == b"commit":
                todo.append(obj.tree)
            elif obj.type_name == b"tree":
                todo.extend(item.sha for item in obj.iteritems() if not _is_gitlink(item.mode))
        return zlib.compress(bytes(out), 1)

    def import_objects(self, data: bytes) -> list[str]:
        """Store the objects :meth:`export_objects` wrote (those missing, in one pack); returns every sha."""
        from dulwich.objects import ShaFile

        raw = zlib.decompress(data)
        objects = []
        pos = 0
        while pos < len(raw):
            end = raw.index(b"\n", pos)
            type_num, size = (int(part) for part in raw[pos:end].split())
            objects.append(ShaFile.from_raw_string(type_num, raw[end + 1 : end + 1 + size]))
            pos = end + 1 + size
        store = self.repo.object_store
        new = [(obj, None) for obj in objects if obj.id not in store]
        if new:
            store.add_objects(new)
        return [obj.id.decode() for obj in objects]

    def add_linked_workspace(self, path: Path, *, files_of: str, head: str) -> None:
        """Check out the files of commit ``files_of`` into the new folder ``path``, with HEAD detached at
        ``head``. Its ``.git`` names this repository's as its ``commondir`` (as ``git worktree`` does), so
        commits and refs made there land here directly, and it ignores what this one ignores."""
        from dulwich.index import build_index_from_tree

        gitdir = path / ".git"
        (gitdir / "objects").mkdir(parents=True)  # unused: dulwich wants it to take this for a repository
        common = self.common_dir.resolve()
        (gitdir / "commondir").write_text(f"{common}\n")
        (gitdir / "HEAD").write_text(f"{head}\n")
        exclude = common / "info" / "exclude"
        if exclude.is_file():
            (gitdir / "info").mkdir()
            shutil.copyfile(exclude, gitdir / "info" / "exclude")
        tree = self.repo[files_of.encode()].tree
        build_index_from_tree(str(path), str(gitdir / "index"), self.repo.object_store, tree)

    def flatten(self, rev_or_tree: str | GitTree) -> dict[str, FileEntry]:
        """Every file of a commit (or tree) -> (mode, sha)."""
        tree = rev_or_tree if isinstance(rev_or_tree, GitTree) else self.tree(rev_or_tree)
        return {path: (mode, sha) for path, mode, sha in tree.walk_files()}

    def write_tree(self, files: dict[str, FileEntry]) -> str:
        """Store the trees for a flat path -> (mode, blob sha) mapping; returns the root tree sha."""
        from dulwich.objects import Tree

        store = self.repo.object_store
        children: dict[str, dict[str, FileEntry]] = {"": {}}
        for path, entry in files.items():
            parent, _, name = path.rpartition("/")
            children.setdefault(parent, {})[name] = entry
            while parent:  # register every ancestor directory
                grand, _, dname = parent.rpartition("/")
                siblings = children.setdefault(grand, {})
                if dname in siblings:
                    break
                siblings[dname] = (_TREE_MODE, b"")
                parent = grand

        def build(dirpath: str) -> bytes:
            tree = Tree()
            for name, (mode, sha) in children.get(dirpath, {}).items():
                if mode == _TREE_MODE:
                    sha = build(f"{dirpath}/{name}" if dirpath else name)
                tree.add(name.encode(), mode, sha)
            if tree.id not in store:
                store.add_object(tree)
            return tree.id

        return build("").decode()

    def commit_tree(self, tree: str, parents: list[str], message: str) -> str:
        """Store a commit object (no ref moves) and return its sha."""
        from dulwich.objects import Commit

        if self._identity is None:
            config = self.repo.get_config_stack()
            self._identity = (_identity(config, "AUTHOR"), _identity(config, "COMMITTER"))
        author, committer = self._identity
        now = int(time.time())
        offset = time.localtime(now).tm_gmtoff
        commit = Commit()
        commit.tree = tree.encode()
        commit.parents = [p.encode() for p in parents]
        commit.author, commit.committer = author, committer
        commit.author_time = commit.commit_time = now
        commit.author_timezone = commit.commit_timezone = offset
        commit.encoding = b"UTF-8"
        commit.message = message.encode() if message.endswith("\n") else (message + "\n").encode()
        self.repo.object_store.add_object(commit)
        return commit.id.decode()

    def snapshot(self, parent: str, message: str, *, paths: Iterable[str] | None = None) -> str:
        """Commit the workspace as it is on disk, with ``parent`` as the only parent.

        Without ``paths``: tracked files as on disk plus untracked, not ignored files. With ``paths``:
        ``parent``'s tree with just those files or folders taken from disk (missing ones removed).
        HEAD, the index and branches do not move.
        """
        if paths is None:
            files = self.workspace_files(write=True)
        else:
            roots = [Path(p).as_posix().strip("/") for p in paths]
            files = {
                path: entry
                for path, entry in self.flatten(parent).items()
                if not any(path == r or path.startswith(r + "/") for r in roots)
            }
            files.update(self.workspace_files(write=True, under=roots))
        return self.commit_tree(self.write_tree(files), [parent], message)

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

    # -------------------------------------------------------------------- remotes
    def _remote_url(self, remote: str) -> str:
        config = self.repo.get_config()
        try:
            return config.get((b"remote", remote.encode()), b"url").decode()
        except KeyError:
            return remote

    def remote_refs(self, remote: str, prefix: str = "refs/") -> dict[str, str]:
        """Refs under ``prefix`` on a Git remote (name from .git/config, path or URL)."""
        from dulwich.client import get_transport_and_path

        client, path = get_transport_and_path(self._remote_url(remote), config=self.repo.get_config_stack())
        refs = client.get_refs(path)
        refs = getattr(refs, "refs", refs)
        return {
            k.decode(): v.decode() for k, v in refs.items() if k.decode().startswith(prefix) and v is not None
        }

    def push_refs(
        self, remote: str, refs: Iterable[str], *, force: bool = False, delete: bool = False
    ) -> None:
        """Push (or delete with ``delete``) the given refs to the same names on ``remote``."""
        from dulwich import porcelain

        specs = [f":{ref}" if delete else f"{'+' if force else ''}{ref}:{ref}" for ref in refs]
        if not specs:
            return
        err = io.BytesIO()
        try:
            porcelain.push(
                self.repo, self._remote_url(remote), specs, outstream=io.BytesIO(), errstream=err, force=force
            )
        except Exception as exc:
            detail = err.getvalue().decode("utf-8", "replace").strip()
            raise SCMError(f"Pushing to Git remote '{remote}' failed: {exc} {detail}".strip()) from exc

    def fetch_refs(
        self, remote: str, select: Callable[[str], bool], *, force: bool = False
    ) -> dict[str, str]:
        """Fetch the remote refs for which ``select(ref)`` is true into the same local names."""
        from dulwich.client import get_transport_and_path

        client, path = get_transport_and_path(self._remote_url(remote), config=self.repo.get_config_stack())
        chosen: dict[str, str] = {}

        def determine_wants(remote_refs: dict[bytes, bytes | None], depth: int | None = None) -> list[bytes]:
            for name, sha in remote_refs.items():
                if sha is not None and select(name.decode()):
                    chosen[name.decode()] = sha.decode()
            return [
                sha.encode() for sha in set(chosen.values()) if sha.encode() not in self.repo.object_store
            ]

        try:
            client.fetch(path, self.repo, determine_wants=determine_wants)
        except Exception as exc:
            raise SCMError(f"Fetching from Git remote '{remote}' failed: {exc}") from exc
        for ref, sha in chosen.items():
            old = self.get_ref(ref)
            if old == sha:
                continue
            if old and not force and not self.is_ancestor(old, sha):
                raise SCMError(f"Git ref '{ref}' differs locally and on '{remote}'; use force to replace it")
            self.set_ref(ref, sha)
        return chosen


def _identity(config: Any, kind: str) -> bytes:
    """``Name <email>`` as git picks it: GIT_<KIND>_NAME/EMAIL, then user.name/email.

    Only when those are missing is dulwich asked for its default (the login and host name), which
    costs a ``socket`` import on every commit-making CLI call otherwise.
    """
    name = os.environ.get(f"GIT_{kind}_NAME")
    email = os.environ.get(f"GIT_{kind}_EMAIL")
    try:
        name = name or config.get((b"user",), b"name").decode()
        email = email or config.get((b"user",), b"email").decode()
    except KeyError:
        pass
    if name and email:
        return f"{name} <{email}>".encode()
    from dulwich.repo import get_user_identity

    try:
        return get_user_identity(config, kind=kind)
    except Exception:  # no usable identity on this machine
        return _DEFAULT_IDENTITY
