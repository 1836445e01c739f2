"""A background thread for the logger's whole-file rewrites (summary JSON, HTML report).

An atomic replace (write a temporary file, rename it over the old one) costs 50-250 us on ext4,
whose ``auto_da_alloc`` pushes the new file's data out on every rename over an existing file. Doing
that inside ``next_step`` would dominate a training step, so the training thread only hands over a
job; this thread runs it. Jobs are keyed by file and the newest job per file wins: if the disk is
slower than the steps, intermediate summaries are skipped rather than queued, so memory and latency
stay bounded. Writes are also spaced at least ``MIN_INTERVAL_SECONDS`` apart (the files are at most
that stale), which keeps the thread from contending for the GIL with the training loop on every
step. ``wait()`` is the barrier used before a checkpoint and at the end of a run: it skips the
spacing and returns once everything submitted is on disk.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from jupyter_exp.errors import LiveError

MIN_INTERVAL_SECONDS = 0.02


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
