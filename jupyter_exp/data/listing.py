"""A directory tree as per-folder listings, and its ``.dir`` manifest composed from per-folder pieces.

A dataset of a million files changes a few files at a time. Each folder's own files (names plus
inode, mtime and size) get a key; the manifest text of a folder with no subfolders is remembered
under that key, so after one change only that folder's files are looked up and the manifest is
the unchanged folders' remembered text joined with the new one. The bytes are exactly those of
``json.dumps(sorted rows, sort_keys=True)``, DVC 3's ``.dir`` object.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import signal
import stat
import sys
from collections.abc import Callable, Mapping
from json.encoder import encode_basestring_ascii  # what json.dumps uses for str (ensure_ascii)
from typing import Any, NamedTuple

from jupyter_exp.errors import CacheError

Ignore = Callable[[str], bool]

# DVC's default ignore patterns (``.git``, ``.git/``, ``.hg/``, ``.dvc/``) at any depth.
IGNORED_DIRS = frozenset({".git", ".hg", ".dvc"})
IGNORED_FILES = frozenset({".git"})

FileStat = tuple[str, int, int, int]
"""(name, inode, mtime_ns, size) of one file: while these match, its remembered md5 holds."""


class Listing(NamedTuple):
    """One folder's own files (not its subfolders'), sorted by name."""

    prefix: str  # the folder's path inside the scanned directory: "" or "a/b/"
    abspath: str
    files: list[FileStat]
    subdirs: list[str]
    key: str  # md5 over prefix and files: changes when any own file is added, removed or touched
    count: int  # own files
    size: int  # their bytes
    volatile: bool  # holds a symlink or a file with other hard links: writes a folder watch does not see
    elided: bool = False  # restored from a summary without ``files`` (a leaf whose rows the state db holds)

    @property
    def is_leaf(self) -> bool:
        return not self.subdirs

    def children(self) -> list[tuple[str, str]]:
        """(prefix, path) of each subfolder, to list next."""
        return [(self.prefix + name + "/", os.path.join(self.abspath, name)) for name in self.subdirs]


# Past this many files a tree's remaining folders are split between this process and forked ones:
# listing a million files is the kernel's stat of each (2.5 s here on one core), and threads cannot
# share that work, since every file also costs Python work under the GIL.
PARALLEL_MIN_FILES = 20_000
# Folders opened as descriptors so each stat is resolved from the folder, not from the root again.
_SCANDIR_FD = os.scandir in os.supports_fd
# A forked child leaves through this even where a caller has replaced ``os._exit`` (a profiler, a test).
_exit_child = os._exit


def scan(root: str, ignore: Ignore | None = None, base: str = "", jobs: int = 1) -> list[Listing]:
    """Every folder under ``root`` as DVC sees it: symlinked files followed, symlinked folders and
    ``.git``/``.hg``/``.dvc`` skipped, ``ignore``d paths (``base`` + relpath) left out. Sorted by prefix.

    A large tree (over ``PARALLEL_MIN_FILES`` files) is finished by ``jobs`` processes."""
    listings: list[Listing] = []
    stack = [("", root)]
    seen = 0
    while stack:
        if jobs > 1 and seen > PARALLEL_MIN_FILES and len(stack) > 1 and _can_fork():
            listings += _scan_forked(stack, ignore, base, min(jobs, len(stack)))
            break
        listing = scan_folder(*stack.pop(), ignore, base)
        listings.append(listing)
        seen += len(listing.files)
        stack.extend(listing.children()[::-1])
    listings.sort(key=lambda listing: listing.prefix)
    return listings


def _can_fork() -> bool:
    """Forking is safe while this process runs one thread (a lock held by another would stay held in
    the child); macOS's system libraries do not support it at all."""
    import threading

    return hasattr(os, "fork") and sys.platform != "darwin" and threading.active_count() == 1


def _scan_trees(folders: list[tuple[str, str]], ignore: Ignore | None, base: str) -> list[Listing]:
    """``folders`` and every folder under them, in turn."""
    listings = []
    stack = list(folders)
    while stack:
        listing = scan_folder(*stack.pop(), ignore, base)
        listings.append(listing)
        stack.extend(listing.children())
    return listings


def _scan_forked(folders: list[tuple[str, str]], ignore: Ignore | None, base: str, jobs: int) -> list[Listing]:
    """``folders`` and their subtrees shared round-robin between this process and ``jobs - 1`` children,
    which send their listings back through a pipe (marshal: plain tuples, fast both ways)."""
    shares = [folders[i::jobs] for i in range(jobs)]
    children: list[tuple[int, int]] = []  # (pid, read end of its pipe)
    try:
        for share in shares[1:]:
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: list, send, and leave without running any of the parent's cleanup
                try:
                    for signum in (signal.SIGINT, signal.SIGTERM):  # a Ctrl-C ends it, never runs a handler
                        signal.signal(signum, signal.SIG_DFL)
                    os.close(read_fd)
                    reply: tuple[Any, ...] = ("ok", [tuple(lst) for lst in _scan_trees(share, ignore, base)])
                except OSError as exc:
                    reply = ("os", exc.errno, exc.strerror, exc.filename)
                except BaseException as exc:
                    reply = ("error", str(exc) if isinstance(exc, CacheError) else f"listing failed: {exc!r}")
                try:
                    with open(write_fd, "wb") as pipe:
                        pipe.write(marshal.dumps(reply, 2))
                finally:
                    _exit_child(0)
            os.close(write_fd)
            children.append((pid, read_fd))
        listings = _scan_trees(shares[0], ignore, base)
        while children:
            pid, read_fd = children.pop()
            with open(read_fd, "rb") as pipe:
                data = pipe.read()
            os.waitpid(pid, 0)
            reply = marshal.loads(data) if data else ("error", "a listing process died")
            if reply[0] == "os":
                raise OSError(*reply[1:])
            if reply[0] == "error":
                raise CacheError(reply[1])
            listings += [Listing(*fields) for fields in reply[1]]
        return listings
    finally:
        for pid, read_fd in children:  # on an error: a child still writing gets EPIPE and exits
            os.close(read_fd)
            os.waitpid(pid, 0)


def scan_folder(prefix: str, dirpath: str, ignore: Ignore | None, base: str) -> Listing:
    """One folder's own files (stat'ed, symlinks followed) and its subfolders."""
    files: list[FileStat] = []
    subdirs: list[str] = []
    volatile = False
    fd = os.open(dirpath, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if _SCANDIR_FD else None
    try:
        with os.scandir(dirpath if fd is None else fd) as entries:
            for entry in entries:
                name = entry.name
                if entry.is_dir(follow_symlinks=False):
                    if name not in IGNORED_DIRS and not (ignore and ignore(base + prefix + name + "/")):
                        subdirs.append(name)
                    continue
                if name in IGNORED_FILES or (ignore and ignore(base + prefix + name)):
                    continue
                try:
                    st = entry.stat()
                except FileNotFoundError as exc:
                    where = os.path.join(dirpath, name)
                    raise CacheError(f"cannot hash '{where}': it is a broken symlink") from exc
                if stat.S_ISDIR(st.st_mode):
                    continue  # a symlink to a directory: os.walk (and so DVC) does not descend
                if st.st_nlink > 1 or entry.is_symlink():
                    volatile = True
                files.append((name, st.st_ino, st.st_mtime_ns, st.st_size))
    finally:
        if fd is not None:
            os.close(fd)
    files.sort()
    subdirs.sort()
    # marshal's version 2 (no back-references) is a deterministic encoding of these tuples, 5x
    # cheaper than repr at a thousand files per folder.
    key = hashlib.md5(prefix.encode("utf-8", "surrogateescape"), usedforsecurity=False)
    key.update(marshal.dumps(files, 2))
    size = sum(file[3] for file in files)
    return Listing(prefix, dirpath, files, subdirs, key.hexdigest(), len(files), size, volatile)


def summarize(listings: list[Listing]) -> bytes:
    """What :func:`rescan` needs to restore these folders: all but the files of leaf folders (whose
    manifest rows the state db remembers by key), so a million files summarise in kilobytes."""
    rows = [
        (lst.prefix, None if lst.is_leaf else lst.files, lst.subdirs, lst.key, lst.count, lst.size, lst.volatile)
        for lst in listings
    ]
    return marshal.dumps(rows, 2)


def rescan(
    root: str, summary: bytes, changed: Callable[[str], bool], ignore: Ignore | None = None, base: str = ""
) -> tuple[list[Listing], int]:
    """The tree under ``root`` as :func:`scan` lists it, each folder restored from ``summary`` unless
    ``changed(folder path)`` says it may differ (or it is volatile or new). Returns the listings and how many
    folders were restored without listing them."""
    known = {row[0]: row for row in marshal.loads(summary)}
    listings: list[Listing] = []
    restored = 0
    stack = [("", root)]
    while stack:
        prefix, path = stack.pop()
        row = known.get(prefix)
        if row is None or row[6] or changed(path):
            listing = scan_folder(prefix, path, ignore, base)
        else:
            _, files, subdirs, key, count, size, volatile = row
            listing = Listing(prefix, path, files or [], subdirs, key, count, size, volatile, files is None)
            restored += 1
        listings.append(listing)
        stack.extend(listing.children())
    listings.sort(key=lambda listing: listing.prefix)
    return listings, restored


def tree_key(listings: list[Listing]) -> str:
    """Identity of a whole tree's state: the folders' keys in order."""
    return hashlib.md5(
        "".join(listing.key for listing in listings).encode(), usedforsecurity=False
    ).hexdigest()


def entry_text(relpath: str, md5: str) -> str:
    """One manifest row as ``json.dumps({"md5": .., "relpath": ..}, sort_keys=True)`` writes it."""
    return f'{{"md5": "{md5}", "relpath": {encode_basestring_ascii(relpath)}}}'


def leaf_text(listing: Listing, md5s: list[str]) -> bytes:
    """A folder's rows (``md5s`` in name order) joined as in the manifest, for remembering."""
    prefix = listing.prefix
    return ", ".join(
        entry_text(prefix + file[0], md5) for file, md5 in zip(listing.files, md5s, strict=True)
    ).encode()


def compose(listings: list[Listing], leaves: Mapping[str, bytes], md5s: Mapping[str, list[str]]) -> bytes:
    """The ``.dir`` manifest: rows sorted by relpath, each leaf folder's text from ``leaves`` (by prefix),
    the own files of other folders from ``md5s`` (by prefix, in name order)."""
    by_prefix = {listing.prefix: listing for listing in listings}

    def folder(listing: Listing) -> list[bytes]:
        if listing.is_leaf:
            text = leaves[listing.prefix]
            return [text] if text else []
        # A subfolder "x" sorts as "x/": every row under it is "x/..." (sorting by relpath keeps them together).
        items: list[tuple[str, list[bytes]]] = [
            (file[0], [entry_text(listing.prefix + file[0], md5).encode()])
            for file, md5 in zip(listing.files, md5s[listing.prefix], strict=True)
        ]
        items += [(sub + "/", folder(by_prefix[listing.prefix + sub + "/"])) for sub in listing.subdirs]
        items.sort(key=lambda item: item[0])
        return [part for _, parts in items for part in parts]

    return b"[" + b", ".join(folder(by_prefix[""])) + b"]"
