"""Committing an experiment or a checkpoint: the one place a result becomes a commit on an experiment ref.

Every ref move is a compare-and-swap (the Git layer's ``add_ref`` / ``set_ref(old=...)``, dulwich's
``add_if_new`` / ``set_if_equals``): a process that lost a race re-reads the ref and decides again
(claiming a name), or is told (extending a checkpoint chain); nothing is ever overwritten unseen.

Auto names are ``exp-`` and five hex digits of a digest of the run's ``dvc.lock`` files, so running the
same thing again finds its earlier experiment and reuses it, as DVC does. When that name is taken by a
different experiment of the baseline, the next name of a sequence derived from the same digest is
tried (longer names once short ones get crowded), so auto names never collide and stay deterministic;
only a name the user gave (``-n``) can conflict.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from jupyter_exp.errors import ExperimentError, RefRaceError
from jupyter_exp.experiments.refs import ExpRef
from jupyter_exp.scm.git import FileEntry, Git

NAME_DIGITS = 5
RACE_ATTEMPTS = 20  # lost races on one name before giving up (a stale '<ref>.lock' ends here)
_RACE_PAUSE_S = 0.01


@dataclass(frozen=True)
class Committed:
    """Where a commit landed."""

    name: str
    ref: str
    sha: str
    reused: bool = False  # an identical experiment existed; ``sha`` is that one and no ref moved


def conflict_error(name: str) -> ExperimentError:
    """An experiment ``name`` exists already for this baseline (and ``-f`` was not given)."""
    return ExperimentError(
        f"Experiment conflicts with existing experiment '{name}'. To overwrite the existing "
        f"experiment run:\n\n\tjupyter exp run -f -n {name} ..."
    )


def lock_hash(files: Mapping[str, FileEntry]) -> str:
    """Digest of the ``dvc.lock`` files of a workspace snapshot: equal results, equal ``exp-xxxxx`` name."""
    digest = hashlib.sha256()
    for path in sorted(p for p in files if p == "dvc.lock" or p.endswith("/dvc.lock")):
        digest.update(f"{path}\0{files[path][1].decode()}\n".encode())
    return digest.hexdigest()


def auto_names(exp_hash: str) -> Iterator[str]:
    """``exp-<5 hex>`` from ``exp_hash``, then further names derived from it, one digit longer every 64."""
    yield f"exp-{exp_hash[:NAME_DIGITS]}"
    attempt = 1
    while True:
        digits = min(64, NAME_DIGITS + attempt // 64)
        yield f"exp-{hashlib.sha256(f'{exp_hash}:{attempt}'.encode()).hexdigest()[:digits]}"
        attempt += 1


def commit_experiment(
    git: Git,
    files: dict[str, FileEntry],
    *,
    baseline: str,
    parent: str,
    name: str | None = None,
    force: bool = False,
    checkpoint: bool = False,
    extends: tuple[str, str] | None = None,
) -> Committed:
    """Commit ``files`` (parent ``parent``) as an experiment of ``baseline``, or as the next checkpoint.

    ``extends=(ref, tip)`` adds a checkpoint to a chain this run owns: the ref moves only if it still
    points at ``tip``, otherwise an :class:`ExperimentError` says who moved it (the commit stays stored).
    Without it the experiment's ref is claimed: ``name`` (a conflict unless ``force`` or the same
    result, which is reused) or the first free auto name.
    """
    exp_hash = lock_hash(files)
    tree = git.write_tree(files)
    kind = "checkpoint" if checkpoint else "experiment"

    def make_commit() -> str:
        return git.commit_tree(tree, [parent], f"dvc: commit {kind} {exp_hash}")

    if extends is None:
        names = (name,) if name else auto_names(exp_hash)
        return claim_ref(git, baseline, (tree, (parent,)), make_commit, names=names, given=bool(name),
                         force=force, reuse=not checkpoint)
    ref, tip = extends
    sha = make_commit()
    try:
        git.set_ref(ref, sha, old=tip)
    except RefRaceError as exc:
        raise ExperimentError(
            f"Checkpoint {sha[:7]} was not recorded: {exc}. Another run is writing the same "
            "experiment; the checkpoints made before are kept."
        ) from exc
    info = ExpRef.parse(ref)
    return Committed(info.name if info else ref, ref, sha)


def claim_ref(
    git: Git,
    baseline: str,
    content: tuple[str, tuple[str, ...]],
    make_commit: Callable[[], str],
    *,
    names: Iterable[str],
    given: bool,
    force: bool,
    reuse: bool,
) -> Committed:
    """Point a new experiment ref of ``baseline`` at the commit ``make_commit`` stores (called once, only
    when needed). ``given``: ``names`` is the user's one name (taken: a conflict unless ``force``);
    otherwise the first of the auto ``names`` that is free. With ``reuse``, a ref whose commit has the
    same ``content`` (tree, parents) is the answer and nothing is written."""
    sha: str | None = None
    for candidate in names:
        ref = str(ExpRef(baseline, candidate))
        for _attempt in range(RACE_ATTEMPTS):
            old = git.get_ref(ref)
            if old is not None and reuse and commit_content(git, old) == content:
                return Committed(candidate, ref, old, reused=True)
            if old is not None and not given:
                break  # another experiment's auto name: try the next one
            if old is not None and not force:
                raise conflict_error(candidate)
            sha = sha or make_commit()
            try:
                if old is None:
                    git.add_ref(ref, sha)
                else:
                    git.set_ref(ref, sha, old=old)
            except RefRaceError:
                time.sleep(_RACE_PAUSE_S)  # someone else wrote it meanwhile: look again
                continue
            return Committed(candidate, ref, sha)
        else:
            raise ExperimentError(
                f"Experiment ref '{ref}' kept changing or stayed locked during {RACE_ATTEMPTS} attempts; "
                f"if no other run is active, remove '{git.common_dir / ref}.lock'"
            )
    raise AssertionError("unreachable: auto names never run out")


def commit_content(git: Git, sha: str) -> tuple[str, tuple[str, ...]]:
    """(tree, parents) of a commit: what makes two experiment commits the same result."""
    info = git.commit_info(sha)
    return info.tree, tuple(info.parents)


class CommitLock:
    """Serialises experiment commits of every process and thread sharing one Git repository.

    Parallel queued runs may store the same new object at the same moment (dulwich then fails on the
    other writer's ``.lock`` file); committing one at a time avoids that, and the compare-and-swap ref
    updates above stay correct for writers that do not take this lock (another tool, a stale holder).
    An OS lock (``flock``) on a file in the common Git directory is released by the OS if its holder
    dies, so a crashed run never blocks the next.
    """

    def __init__(self, git: Git) -> None:
        self.path = git.common_dir / "jupyter-exp-commits.flock"
        self._thread_lock = threading.Lock()
        self._fd = -1

    def __enter__(self) -> CommitLock:
        self._thread_lock.acquire()
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                lock_file(fd)
            except BaseException:
                os.close(fd)
                raise
        except BaseException:
            self._thread_lock.release()
            raise
        self._fd = fd
        return self

    def __exit__(self, *_exc: object) -> None:
        os.close(self._fd)  # closing releases the OS lock
        self._fd = -1
        self._thread_lock.release()


def lock_file(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
    else:
        fcntl.flock(fd, fcntl.LOCK_EX)
