"""A directory tree as per-folder listings, and its ``.dir`` manifest composed from per-folder pieces.

A dataset of a million files changes a few files at a time. Each folder's own files (names plus
inode, mtime and size) get a key; the manifest text of a folder with no subfolders is remembered
under that key, so after one change only that folder's files are looked up and the manifest is
the unchanged folders' remembered text joined with the new one. The bytes are exactly those of
``json.dumps(sorted rows, sort_keys=True)``, DVC 3's ``.dir`` object.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Mapping
from json.encoder import encode_basestring_ascii  # what json.dumps uses for str (ensure_ascii)
from typing import NamedTuple

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

    @property
    def is_leaf(self) -> bool:
        return not self.subdirs


def scan(root: str, ignore: Ignore | None = None, base: str = "") -> list[Listing]:
    """Every folder under ``root`` as DVC sees it: symlinked files followed, symlinked folders and
    ``.git``/``.hg``/``.dvc`` skipped, ``ignore``d paths (``base`` + relpath) left out. Sorted by prefix."""
    listings: list[Listing] = []
    stack = [("", root)]
    while stack:
        prefix, dirpath = stack.pop()
        files: list[FileStat] = []
        subdirs: list[str] = []
        with os.scandir(dirpath) as entries:
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
                    raise CacheError(f"cannot hash '{entry.path}': it is a broken symlink") from exc
                if stat.S_ISDIR(st.st_mode):
                    continue  # a symlink to a directory: os.walk (and so DVC) does not descend
                files.append((name, st.st_ino, st.st_mtime_ns, st.st_size))
        files.sort()
        subdirs.sort()
        key = hashlib.md5((prefix + repr(files)).encode("utf-8", "surrogateescape"), usedforsecurity=False)
        listings.append(Listing(prefix, dirpath, files, subdirs, key.hexdigest()))
        stack.extend((prefix + name + "/", os.path.join(dirpath, name)) for name in reversed(subdirs))
    listings.sort(key=lambda listing: listing.prefix)
    return listings


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
