"""Which folders of a large tree changed since a given moment, from Linux's inotify, for the daemon.

``status`` of a million files is the kernel's stat of every one (2.3 s here). The resident daemon
(``jupyter exp daemon start``) keeps a :class:`Watcher` with inotify watches on the big trees its
commands hashed; a command, forked from the daemon, inherits the watcher's tables as they were when it
was forked and lists again only the folders that had an event since the summary it stored (see
``listing.rescan``). A clock orders both: every batch of events read, and every watch added, moves it on.

What inotify does not report is never trusted: a folder holding a symlink or a file with other hard links
(written through another path) is listed every time, only local file systems are watched (not NFS or
FUSE, where other machines write), and a queue overflow or a moved folder drops the tree's watches, so
the next command lists it all. As for watchman and git's fsmonitor, writes through a shared ``mmap``
that never touch the file's size or times go unseen.
"""

from __future__ import annotations

import errno
import os
import struct
import sys
import threading
from collections.abc import Callable
from typing import Any

from .listing import IGNORED_DIRS

# inotify(7)
IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF = 0x400, 0x800
IN_Q_OVERFLOW, IN_IGNORED = 0x4000, 0x8000
IN_ONLYDIR, IN_DONT_FOLLOW, IN_EXCL_UNLINK, IN_ISDIR = 0x1000000, 0x2000000, 0x4000000, 0x40000000
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
_MASK = (
    IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
    | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK
)
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name
# statfs(2) f_type of the file systems whose every write this machine's kernel makes (inotify sees).
LOCAL_FILE_SYSTEMS = frozenset({
    0xEF53,  # ext2/3/4
    0x58465342,  # xfs
    0x9123683E,  # btrfs
    0x01021994,  # tmpfs
    0x794C7630,  # overlayfs
    0x2FC12FC1,  # zfs
    0xF2F52010,  # f2fs
})
# Trees with fewer files are stat'ed faster than watched; past this many watches a tree is not watched.
WATCH_MIN_FILES = 2_000
MAX_WATCHES = 65_536

_active: Watcher | None = None


def active() -> Watcher | None:
    """The process's watcher: the daemon's own, or the one a command forked from it inherited."""
    return _active


class Watcher:
    """inotify watches on whole trees, and for each watched folder the clock of its watch and last event."""

    def __init__(self) -> None:
        if not sys.platform.startswith("linux"):
            raise OSError(errno.ENOSYS, "inotify is Linux's")
        import ctypes

        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self.id = os.urandom(8).hex()  # a summary stored under another daemon's watcher proves nothing
        self.clock = 0
        self.roots: set[str] = set()
        self.wds: dict[str, int] = {}  # folder -> watch descriptor
        self.paths: dict[int, str] = {}  # watch descriptor -> folder
        self.since: dict[int, int] = {}  # clock when the watch was added
        self.touched: dict[int, int] = {}  # clock of the folder's last event
        self._ask: Callable[[str], None] = self.watch
        # A notebook kernel hashes on several threads: one reads the events while the others wait for them.
        self._lock = threading.RLock()

    # -- what a command asks --------------------------------------------------------------------------------

    def watching(self, root: str) -> bool:
        return root in self.roots

    def changed(self, folder: str, clock: int) -> bool:
        """Whether ``folder`` may differ from what was listed at ``clock`` (unwatched counts as changed)."""
        wd = self.wds.get(folder)
        # .get on since: in a kernel another thread's drain may forget the watch between the two lookups.
        return wd is None or self.since.get(wd, clock + 1) > clock or self.touched.get(wd, 0) > clock

    def ask(self, root: str) -> None:
        """Have ``root`` watched from now on: directly in the daemon, through it in a forked command."""
        self._ask(root)

    def refresh(self) -> int:
        """Take in the events so far (only the process holding the inotify descriptor can); the clock they
        bring, which a listing made from now on is valid at."""
        with self._lock:
            if self.fd >= 0:
                self._drain()
            return self.clock

    def detach(self, ask: Callable[[str], None]) -> None:
        """In a forked command: keep the tables as they were at the fork, leave the events to the daemon,
        and send watch requests through ``ask``."""
        os.close(self.fd)
        self.fd = -1
        self._ask = ask

    # -- what the daemon does -------------------------------------------------------------------------------

    def fileno(self) -> int:
        return self.fd

    def watch(self, root: str) -> None:
        """Watch every folder under ``root`` (not ``.git``/``.dvc``, not through symlinks). A tree on a file
        system inotify cannot vouch for, or too big for the watch limit, is left unwatched."""
        with self._lock:
            if root in self.roots or not _local(self._libc, root):
                return
            self.clock += 1
            if self._add_tree(root):
                self.roots.add(root)
            else:
                self._drop(root)

    def drain(self) -> None:
        """Read every queued event; each batch moves the clock on."""
        with self._lock:
            self._drain()

    def _drain(self) -> None:
        batch = b""
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            batch += chunk
        if batch:
            self.clock += 1
            self.take(batch)

    def take(self, data: bytes) -> None:
        """Apply a buffer of inotify events at the current clock."""
        clock, paths, touched = self.clock, self.paths, self.touched
        offset = 0
        while offset < len(data):
            wd, mask, _, length = _EVENT.unpack_from(data, offset)
            name_at = offset + _EVENT.size
            offset = name_at + length
            if mask & IN_Q_OVERFLOW:  # events were lost: nothing watched can be trusted
                for root in list(self.roots):
                    self._drop(root)
                continue
            folder = paths.get(wd)
            if folder is None:
                continue
            touched[wd] = clock
            if mask & IN_IGNORED:  # the folder went (its parent saw the delete)
                self._forget(wd)
            elif mask & IN_MOVE_SELF or (mask & IN_ISDIR and mask & (IN_MOVED_FROM | IN_MOVED_TO)):
                self._drop(self._root_of(folder))  # folders moved: their watches' paths are wrong now
            elif mask & IN_DELETE_SELF and folder in self.roots:
                self._drop(folder)
            elif mask & IN_ISDIR and mask & IN_CREATE:
                name = os.fsdecode(data[name_at : name_at + length].rstrip(b"\0"))
                if name not in IGNORED_DIRS and not self._add_tree(os.path.join(folder, name)):
                    self._drop(self._root_of(folder))

    def _root_of(self, folder: str) -> str:
        inside = (root for root in self.roots if folder == root or folder.startswith(root + "/"))
        return max(inside, key=len, default=folder)

    def _add_tree(self, top: str) -> bool:
        """Watch ``top`` and the folders under it; False when the limit is reached."""
        stack = [top]
        while stack:
            folder = stack.pop()
            if len(self.wds) >= MAX_WATCHES:
                return False
            wd = self._libc.inotify_add_watch(self.fd, os.fsencode(folder), _MASK)
            if wd < 0:
                import ctypes

                if ctypes.get_errno() in (errno.ENOENT, errno.ENOTDIR):  # gone already: its parent saw it
                    continue
                return False
            self.wds[folder], self.paths[wd] = wd, folder
            self.since.setdefault(wd, self.clock)
            try:
                with os.scandir(folder) as entries:
                    stack += [
                        entry.path
                        for entry in entries
                        if entry.name not in IGNORED_DIRS and entry.is_dir(follow_symlinks=False)
                    ]
            except (FileNotFoundError, NotADirectoryError):
                continue
        return True

    def _drop(self, root: str) -> None:
        """Stop watching ``root``'s tree; the next command lists it all and asks again."""
        self.roots.discard(root)
        for folder, wd in list(self.wds.items()):
            if folder == root or folder.startswith(root + "/"):
                self._libc.inotify_rm_watch(self.fd, wd)
                self._forget(wd)

    def _forget(self, wd: int) -> None:
        folder = self.paths.pop(wd, None)
        if folder is not None and self.wds.get(folder) == wd:
            del self.wds[folder]
        self.since.pop(wd, None)
        self.touched.pop(wd, None)


def start() -> Watcher | None:
    """Make this process (the daemon) a watcher's home; None where inotify is not available."""
    global _active
    try:
        _active = Watcher()
    except OSError:
        _active = None
    return _active


def _local(libc: Any, path: str) -> bool:
    """Whether ``path`` is on a file system in :data:`LOCAL_FILE_SYSTEMS` (statfs's first field)."""
    import ctypes

    buffer = ctypes.create_string_buffer(256)
    if libc.statfs(os.fsencode(path), buffer) != 0:
        return False
    return ctypes.c_long.from_buffer(buffer).value in LOCAL_FILE_SYSTEMS
