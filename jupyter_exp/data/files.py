"""File-system primitives under the cache: copy-on-write clones, removing trees, placing many files on
threads. (Telling a killed writer's temp files from a live one's is ``fsutil``'s: every layer writes atomically.)
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from jupyter_exp.fsutil import tmp_name

if TYPE_CHECKING:
    from concurrent.futures import Future

_FICLONE = 0x40049409  # Linux ioctl: share extents between two files (btrfs, xfs, ...)
# What FICLONE fails with where the file system (or the pair of them) cannot clone at all.
NO_REFLINK = frozenset({errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY})

# Creating a file waits on the file system far more than on the CPU: threads place 1 KB files
# 2.5x faster than one loop on this 2-core machine. Below this many files one loop is cheaper.
FILE_JOBS = min(16, 4 * (os.cpu_count() or 1))
PARALLEL_FILES = 64



def reflink(src: Path, dst: Path) -> None:
    """Copy-on-write clone; raises OSError where the file system (or OS) cannot do it."""
    try:
        import fcntl
    except ImportError as exc:  # not POSIX
        raise OSError(errno.ENOTSUP, "reflink unsupported") from exc
    if not hasattr(fcntl, "ioctl") or os.uname().sysname != "Linux":
        raise OSError(errno.ENOTSUP, "reflink unsupported")
    with open(src, "rb") as fsrc, open(dst, "wb") as fdst:
        try:
            fcntl.ioctl(fdst.fileno(), _FICLONE, fsrc.fileno())
        except OSError:
            fdst.close()
            os.unlink(dst)
            raise


def copy_new(src: Path, dst: Path, mode: int) -> None:
    """Copy ``src``'s bytes into ``dst``, a file this creates (never one that exists), by the kernel where
    it can: no file objects, no size or same-file checks (``shutil.copyfile`` makes several more calls)."""
    fin = os.open(src, os.O_RDONLY)
    try:
        fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            if not (_SENDFILE and _send_all(fin, fout)):
                while chunk := os.read(fin, 1 << 20):
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fout, view) :]
        finally:
            os.close(fout)
    finally:
        os.close(fin)


# Linux sends between regular files; macOS only to sockets, Windows not at all.
_SENDFILE = hasattr(os, "sendfile") and sys.platform.startswith("linux")


def _send_all(fin: int, fout: int) -> bool:
    """Copy by ``sendfile``; False (nothing written) where this file system refuses it."""
    try:
        while os.sendfile(fout, fin, None, 1 << 30):
            pass
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP) or os.lseek(fout, 0, os.SEEK_CUR):
            raise
        return False
    return True


def remove_path(path: Path) -> None:
    """Delete a file, a symlink or a whole directory (read-only cache links included)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def tmp_beside(path: Path) -> Path:
    return path.with_name(tmp_name(path.name))


T = TypeVar("T")
A = TypeVar("A")


def each(work: Callable[[A], T], items: Sequence[A], done: Callable[[int], None] | None = None) -> Iterator[T]:
    """``work(item)`` for each item, in order, run on threads when there are many; ``done(index)`` is
    called in the caller's thread as each result arrives. The first error stops what has not started.
    Only the calls in flight exist at a time: a million prepared calls with their paths cost ~1 GB."""
    if len(items) < PARALLEL_FILES:
        for index, item in enumerate(items):
            yield work(item)
            if done is not None:
                done(index)
        return
    from concurrent.futures import ThreadPoolExecutor  # here: most commands place a handful of files

    pool = ThreadPoolExecutor(max_workers=FILE_JOBS, thread_name_prefix="jupyter-exp-files")
    window = 8 * FILE_JOBS  # futures in flight
    pending: deque[Future[T]] = deque()
    try:
        for index in range(len(items)):
            while len(pending) < window and index + len(pending) < len(items):
                pending.append(pool.submit(work, items[index + len(pending)]))
            yield pending.popleft().result()
            if done is not None:
                done(index)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
