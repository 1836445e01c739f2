"""How the logger rewrites whole files: the summary in place, the HTML report on a background thread.

An atomic replace (write a temporary file, rename it over the old one) costs 50-250 us on ext4,
whose ``auto_da_alloc`` pushes the new file's data out on every rename over an existing file; that
would dominate a training step. Yet ``logs.json`` must hold a step when ``next_step`` returns (a
reader or a SIGKILL right after must not see an older step), so :class:`SummaryFile` rewrites it in
place: one ``pwrite`` at offset 0 of at most a page, padded with spaces to the file's length so the
file never has to shrink. The kernel copies a one-page write whole or not at all even under SIGKILL,
so the file always holds one complete summary (the old or the new). Bigger summaries, the first
write and the final one (``end``, checkpoints: the file that gets committed) use the atomic replace.

The report is a bigger rewrite that may lag, so the training thread only hands it over as a job to
:class:`BackgroundWriter`. Jobs are keyed by file and the newest job per file wins: if the disk is
slower than the steps, intermediate reports are skipped rather than queued, so memory and latency
stay bounded. Writes are spaced at least ``MIN_INTERVAL_SECONDS`` apart, which keeps the thread from
contending for the GIL with the training loop. ``wait()`` is the barrier used before a checkpoint and
at the end of a run: it skips the spacing and returns once everything submitted is on disk.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from jupyter_exp.errors import LiveError

MIN_INTERVAL_SECONDS = 0.02
IN_PLACE_LIMIT = 4096  # one page: a pwrite at offset 0 of this much is never torn by a kill


def write_atomic(path: str, tmp: str, data: bytes) -> None:
    """Replace ``path`` by ``data`` through the fixed temporary name ``tmp`` (no mkstemp per write)."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.replace(tmp, path)


class SummaryFile:
    """A small file rewritten in place each step (see the module docstring); ``write_clean`` and
    ``unpad`` leave an exact, unpadded file, written by atomic replace."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._tmp = f"{path}.{os.getpid()}.tmp"
        self._fd: int | None = None
        self._size = 0
        self._last = b""
        self._padded = False

    def write(self, data: bytes) -> None:
        """Replace the content by ``data`` (padded with trailing spaces when shorter than before)."""
        if len(data) > IN_PLACE_LIMIT or not hasattr(os, "pwrite"):  # no pwrite: Windows
            self.write_clean(data)
            return
        if self._fd is None:  # start from an exact file of ours, then keep it open
            self.write_clean(data)
            self._fd = self._call(os.open, self.path, os.O_WRONLY)
            self._size = len(data)
            return
        self._last = data
        self._padded = len(data) < self._size
        if self._padded:
            data += b" " * (self._size - len(data))
        self._call(os.pwrite, self._fd, data, 0)
        self._size = len(data)

    def write_clean(self, data: bytes) -> None:
        """Replace the file atomically by exactly ``data``; the next ``write`` reopens the new file."""
        self.close()
        self._call(write_atomic, self.path, self._tmp, data)
        self._last = data
        self._padded = False

    def unpad(self) -> None:
        """Drop the padding of the last in-place write (at the end of a run)."""
        if self._padded:
            self.write_clean(self._last)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def _call(self, function: Callable[..., Any], *args: Any) -> Any:
        try:
            return function(*args)
        except OSError as exc:
            self.close()
            raise LiveError(f"live logger could not write {self.path}: {exc}") from exc


class BackgroundWriter:
    """Runs the latest job per key on one daemon thread; errors surface on the next call."""

    def __init__(self, name: str) -> None:
        self._cond = threading.Condition()
        self._jobs: dict[str, Callable[[], None]] = {}
        self._busy = False
        self._stopping = False
        self._waiters = 0
        self._next_write = 0.0
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"jupyter-exp-live {name}", daemon=True)
        self._thread.start()

    def submit(self, key: str, job: Callable[[], None]) -> None:
        """Schedule ``job``, replacing a not-yet-started job with the same key."""
        with self._cond:
            self._raise_pending_error()
            idle = not self._jobs  # otherwise the thread is busy or sleeping until its next write
            self._jobs[key] = job
            if idle:
                self._cond.notify()

    def wait(self) -> None:
        """Block until every submitted job has run; re-raise a failure as LiveError."""
        with self._cond:
            self._waiters += 1
            self._cond.notify_all()
            try:
                while self._jobs or self._busy:
                    self._cond.wait()
            finally:
                self._waiters -= 1
            self._raise_pending_error()

    def close(self) -> None:
        """Run what is pending, then stop the thread."""
        try:
            self.wait()
        finally:
            with self._cond:
                self._stopping = True
                self._cond.notify()
            self._thread.join()

    def _raise_pending_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise LiveError(f"live logger could not write its files: {error}") from error

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if not self._jobs:
                        if self._stopping:
                            return
                        self._cond.wait()
                        continue
                    delay = self._next_write - time.monotonic()
                    if delay <= 0 or self._waiters or self._stopping:
                        break
                    self._cond.wait(delay)
                key = next(iter(self._jobs))
                job = self._jobs.pop(key)
                self._busy = True
            try:
                job()
            except BaseException as exc:  # noqa: BLE001 - handed to the training thread
                with self._cond:
                    self._error = exc
            finally:
                with self._cond:
                    self._busy = False
                    self._next_write = time.monotonic() + MIN_INTERVAL_SECONDS
                    self._cond.notify_all()
