"""The repository lock: one writer at a time in a workspace, readers never wait.

It lives where DVC 3 keeps its own, ``.dvc/tmp/rwlock``, in DVC's schema (``{"write": {path: {"pid",
"cmd"}}, "read": {path: [{"pid", "cmd"}]}}``), edited under an ``flock`` of ``.dvc/tmp/rwlock.lock`` as
DVC's ``zc.lockfile`` guard does. A writer (``repro``, ``exp run``, ``apply``, ``gc``, ``checkout``,
``add``, ``commit``; the notebook and the server call the same methods) records the repository root as
written by its pid, so a concurrent ``dvc repro`` sees every one of its paths busy and we wait for any
DVC entry inside the repository. A second writer waits, saying whom it waits for, up to
``$JUPYTER_EXP_LOCK_TIMEOUT`` seconds (60 by default), then fails naming the holder. An entry whose
process is gone (killed, crashed) is dropped with a warning and the lock taken over, as DVC does.
Reading commands (``show``, ``status``, ``diff``) take nothing: every write they could see is atomic.

The lock is re-entrant within a process (``exp run`` reproduces, which checks outputs out); threads
of one process (a notebook's background run and a cell) take turns on an in-process lock first.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from jupyter_exp.errors import RepoLockedError
from jupyter_exp.fsutil import atomic_write_text
from jupyter_exp.protocol import pid_alive

ENV_TIMEOUT = "JUPYTER_EXP_LOCK_TIMEOUT"
DEFAULT_TIMEOUT_S = 60.0
POLL_S = 0.05
PROGRAM = "jupyter-exp"

_held: dict[str, int] = {}  # root -> depth held by this process
_thread_locks: dict[str, threading.RLock] = {}
_registry_lock = threading.Lock()
F = TypeVar("F", bound=Callable[..., Any])


def timeout_seconds() -> float:
    raw = os.environ.get(ENV_TIMEOUT, "").strip()
    try:
        return float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        raise RepoLockedError(f"{ENV_TIMEOUT}={raw!r} is not a number of seconds") from None


@contextlib.contextmanager
def write_lock(root: str | os.PathLike[str], what: str, *, log: Callable[[str], None]) -> Iterator[None]:
    """Hold the repository's write lock for ``what`` (``"exp run"``), waiting for another writer."""
    key = os.path.abspath(root)
    with _registry_lock:
        thread_lock = _thread_locks.setdefault(key, threading.RLock())
    timeout = timeout_seconds()
    deadline = time.monotonic() + timeout
    if not thread_lock.acquire(blocking=False):
        log(f"Waiting for another {PROGRAM} command of this process to finish (up to {timeout:g} s) ...")
        if not thread_lock.acquire(timeout=timeout):
            raise RepoLockedError(f"The repository '{key}' is busy with another {PROGRAM} command of this process")
    try:
        if _held.get(key, 0) == 0:
            _acquire(Path(key), f"{PROGRAM} {what}", deadline, timeout, log)
        _held[key] = _held.get(key, 0) + 1
        try:
            yield
        finally:
            _held[key] -= 1
            if _held[key] == 0:
                _release(Path(key))
    finally:
        thread_lock.release()


def writer(what: str) -> Callable[[F], F]:
    """Decorate a method of an object with ``root`` and ``log``: the call holds the write lock."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
            with write_lock(self.root, what, log=self.log):
                return method(self, *args, **kwargs)

        return locked  # type: ignore[return-value]

    return decorate


def _acquire(root: Path, cmd: str, deadline: float, timeout: float, log: Callable[[str], None]) -> None:
    me = {"pid": os.getpid(), "cmd": cmd}
    told: set[int] = set()
    while True:
        with _edit(root) as lock:
            blockers = _blockers(root, lock, me, log)
            if not blockers:
                lock["write"][str(root)] = me
                return
        holder = blockers[0]
        if holder["pid"] not in told:
            told.add(holder["pid"])
            log(f"Waiting for {_describe(holder)} to finish (up to {timeout:g} s; {ENV_TIMEOUT} sets it) ...")
        if time.monotonic() >= deadline:
            raise RepoLockedError(
                f"The repository is locked by {_describe(holder)} ('{_lock_path(root)}'); gave up after "
                f"{timeout:g} s. Try again when it has finished."
            )
        time.sleep(POLL_S)


def _release(root: Path) -> None:
    with _edit(root) as lock:
        entry = lock["write"].get(str(root))
        if entry and entry.get("pid") == os.getpid():
            del lock["write"][str(root)]


def _blockers(root: Path, lock: dict[str, Any], me: dict[str, Any], log: Callable[[str], None]) -> list[dict]:
    """Live entries overlapping ``root`` (ours excepted); dead ones are removed from ``lock``."""
    live: list[dict] = []
    for mode in ("write", "read"):
        for path in list(lock[mode]):
            if not _overlaps(path, str(root)):
                continue
            entries = lock[mode][path] if mode == "read" else [lock[mode][path]]
            kept = []
            for entry in entries:
                if entry.get("pid") == me["pid"]:
                    continue
                if pid_alive(int(entry.get("pid", 0))):
                    kept.append(entry)
                    live.append(entry)
                else:
                    log(f"{_describe(entry)} was killed while holding the repository lock; taking it over.")
            if mode == "write":
                if kept:
                    lock[mode][path] = kept[0]
                else:
                    del lock[mode][path]
            elif kept:
                lock[mode][path] = kept
            else:
                del lock[mode][path]
    return live


def _describe(entry: dict[str, Any]) -> str:
    program, _, rest = str(entry.get("cmd", "")).partition(" ")
    return f"{program} pid {entry.get('pid')} ({rest})" if rest else f"pid {entry.get('pid')} ({program})"


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b.rstrip(os.sep) + os.sep) or b.startswith(a.rstrip(os.sep) + os.sep)


def _lock_path(root: Path) -> Path:
    return root / ".dvc" / "tmp" / "rwlock"


@contextlib.contextmanager
def _edit(root: Path) -> Iterator[dict[str, Any]]:
    """The rwlock file's content, under its guard; written back (atomically) when the block ends."""
    path = _lock_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name("rwlock.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _lock_fd(fd)
        try:
            lock = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            lock = {}
        except ValueError as exc:
            raise RepoLockedError(f"'{path}' is not valid JSON ({exc}); remove it if no command is running") from exc
        if not isinstance(lock, dict):
            raise RepoLockedError(f"'{path}' is not a lock file of DVC's format; remove it if no command is running")
        lock = {"write": dict(lock.get("write") or {}), "read": dict(lock.get("read") or {})}
        before = json.dumps(lock, sort_keys=True)
        yield lock
        if json.dumps(lock, sort_keys=True) != before:
            atomic_write_text(path, json.dumps(lock))
    finally:
        os.close(fd)  # releases the guard


def _lock_fd(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
    else:
        fcntl.flock(fd, fcntl.LOCK_EX)
