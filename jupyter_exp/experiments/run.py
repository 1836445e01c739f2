"""``exp run``: apply param overrides, reproduce, commit the workspace on an experiment ref.

The commit is built from the files on disk (the Git layer's ``snapshot``) with the baseline as parent;
HEAD, the index and branches stay where they are and the results stay in the workspace. Checkpoint
stages commit each checkpoint on the same ref (parent: the previous checkpoint) while they train.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_exp import serialize
from jupyter_exp.errors import ExperimentError, SCMError
from jupyter_exp.experiments.refs import EXEC_APPLY, EXEC_CHECKPOINT, ExpRef, exp_refs, validate_name
from jupyter_exp.pipeline import Pipeline
from jupyter_exp.scm.git import FileEntry, Git

Log = Callable[[str], None]
DEFAULT_PARAMS_FILE = "params.yaml"


@dataclass
class ExpResult:
    """What one ``exp run`` produced."""

    name: str
    rev: str  # the experiment's commit (the last checkpoint for checkpoint runs)
    ref: str
    baseline: str
    stages: list[str] = field(default_factory=list)  # stages that ran
    checkpoints: list[str] = field(default_factory=list)  # checkpoint commits made by this run
    reused: bool = False  # an identical experiment already existed; no new commit
    interrupted: bool = False  # Ctrl-C ended training; completed checkpoints were kept
    queued: bool = False  # recorded for later (`exp run --queue`): rev/ref are the queue entry's
    error: str | None = None  # a queued experiment that failed under `--run-all`


def overrides_by_file(params: list[str] | Mapping[str, Any] | None) -> dict[str, list[str]]:
    """``-S [file:]key=value`` strings (or a ``{"[file:]key": value}`` dict) grouped by params file."""
    if not params:
        return {}
    if isinstance(params, Mapping):
        items = [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in params.items()]
    else:
        items = list(params)
    grouped: dict[str, list[str]] = {}
    for item in items:
        head = item.split("=", 1)[0]
        if ":" in head:
            path, _, rest = item.partition(":")
            grouped.setdefault(path, []).append(rest)
        else:
            grouped.setdefault(DEFAULT_PARAMS_FILE, []).append(item)
    return grouped


def conflict_error(name: str) -> ExperimentError:
    """An experiment ``name`` exists already for this baseline (and ``-f`` was not given)."""
    return ExperimentError(
        f"Experiment conflicts with existing experiment '{name}'. To overwrite the existing "
        f"experiment run:\n\n\tjupyter exp run -f -n {name} ..."
    )


def apply_param_overrides(root: Path, params: list[str] | Mapping[str, Any] | None) -> list[str]:
    """Edit the params files in place (format and comments kept); returns the files changed."""
    grouped = overrides_by_file(params)
    for path in grouped:
        if not (root / path).is_file():
            raise ExperimentError(f"Cannot set params in '{path}': the file does not exist")
    for path, overrides in grouped.items():
        serialize.apply_overrides(root / path, overrides, name=path)
    return list(grouped)


def lock_hash(files: Mapping[str, FileEntry]) -> str:
    """Digest of the ``dvc.lock`` files of a workspace snapshot: equal results, equal ``exp-xxxxx`` name."""
    digest = hashlib.sha256()
    for path in sorted(p for p in files if p == "dvc.lock" or p.endswith("/dvc.lock")):
        digest.update(f"{path}\0{files[path][1].decode()}\n".encode())
    return digest.hexdigest()


class CommitLock:
    """Serialises experiment commits of every process and thread sharing one Git repository.

    Parallel queued runs may store the same new object at the same moment (dulwich then fails on the
    other writer's ``.lock`` file) or pick the same ``exp-xxxxx`` name; committing one at a time makes
    the second see the first. An OS lock (``flock``) on a file in the common Git directory is released
    by the OS if its holder dies, so a crashed run never blocks the next.
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
                _lock_file(fd)
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


def _lock_file(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
    else:
        fcntl.flock(fd, fcntl.LOCK_EX)


class Runner:
    """One ``exp run`` from start to finish.

    ``in_workspace=False`` is a queued run in a workspace of its own: the user's workspace is not the
    experiment's, so neither ``EXEC_APPLY`` nor the checkpoint resume point (refs shared with it) move.
    """

    def __init__(self, pipeline: Pipeline, git: Git, log: Log, *, in_workspace: bool = True) -> None:
        self.pipeline = pipeline
        self.git = git
        self.log = log
        self.root = pipeline.root
        self.in_workspace = in_workspace
        self.lock = CommitLock(git)

    def run(
        self,
        params: list[str] | Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        force: bool = False,
        targets: list[str] | None = None,
        reset: bool = False,
        on_output: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> ExpResult:
        if name is not None:
            validate_name(name, self.git)
        baseline = self.git.head()
        if name is not None and not force and self.git.get_ref(str(ExpRef(baseline, name))):
            raise conflict_error(name)
        apply_param_overrides(self.root, params)
        stages = self.pipeline.stages()
        has_checkpoints = any(stage.checkpoint_outs for stage in stages.values())
        if has_checkpoints:
            result = self._run_checkpoints(baseline, name, force, targets, reset, on_output, stop)
        else:
            ran = self.pipeline.reproduce(targets, force=force, on_output=on_output, stop=stop)
            result = self._commit(baseline, name, force)
            result.stages = ran
        self.log(f"Reproduced experiment(s): {result.name}")
        if self.in_workspace:
            self.git.set_ref(EXEC_APPLY, result.rev)
            self.log("Experiment results have been applied to your workspace.")
        return result

    def _commit(self, baseline: str, name: str | None, force: bool) -> ExpResult:
        with self.lock:
            return self._commit_locked(baseline, name, force)

    def _commit_locked(self, baseline: str, name: str | None, force: bool) -> ExpResult:
        files = self.git.workspace_files(write=True)
        exp_hash = lock_hash(files)
        name = name or f"exp-{exp_hash[:5]}"
        ref = str(ExpRef(baseline, name))
        tree = self.git.write_tree(files)
        old = self.git.get_ref(ref)
        if old is not None:
            info = self.git.commit_info(old)
            if info.tree == tree and info.parents == (baseline,):
                return ExpResult(name, old, ref, baseline, reused=True)
            if not force:
                raise conflict_error(name)
        sha = self.git.commit_tree(tree, [baseline], f"dvc: commit experiment {exp_hash}")
        self.git.set_ref(ref, sha, old=old)
        return ExpResult(name, sha, ref, baseline)

    # -- checkpoints --------------------------------------------------------------------------------
    def _resume_point(self, baseline: str) -> tuple[ExpRef, str] | None:
        """The checkpoint experiment the workspace holds (set by the last run or apply), if any."""
        last = self.git.get_ref(EXEC_CHECKPOINT) if self.in_workspace else None
        if last is None:
            return None
        for info, tip in exp_refs(self.git).items():
            if info.baseline != baseline:
                continue
            if tip == last or last in self.git.ancestors(tip, stop=[baseline]):
                return info, last
        return None

    def _run_checkpoints(
        self,
        baseline: str,
        name: str | None,
        force: bool,
        targets: list[str] | None,
        reset: bool,
        on_output: Callable[[str], None] | None,
        stop: threading.Event | None,
    ) -> ExpResult:
        resume = None if reset else self._resume_point(baseline)
        parent = baseline
        ref: str | None = None
        if resume is not None:
            info, last = resume
            parent = last
            tip = self.git.get_ref(str(info))
            modified = self._inputs_differ(last)
            if last == tip and not modified and name in (None, info.name):
                ref, name = str(info), info.name
                self.log(f"Existing checkpoint experiment '{info.name}' will be resumed")
            else:
                self.log(f"Modified checkpoint experiment based on '{info.name}' will be created")
        made: list[str] = []
        state = {"parent": parent, "ref": ref, "name": name}

        def on_checkpoint(_stage: str) -> None:
            with self.lock:
                commit_checkpoint()

        def commit_checkpoint() -> None:
            files = self.git.workspace_files(write=True)
            exp_hash = lock_hash(files)
            if state["ref"] is None:
                state["name"] = state["name"] or f"exp-{exp_hash[:5]}"
                state["ref"] = str(ExpRef(baseline, state["name"]))
                if self.git.get_ref(state["ref"]) is not None and not force:
                    raise ExperimentError(
                        f"Experiment conflicts with existing experiment '{state['name']}'. "
                        "Run with -f to overwrite it."
                    )
            tree = self.git.write_tree(files)
            sha = self.git.commit_tree(tree, [state["parent"]], f"dvc: commit checkpoint {exp_hash}")
            self.git.set_ref(state["ref"], sha)
            if self.in_workspace:
                self.git.set_ref(EXEC_CHECKPOINT, sha)
            state["parent"] = sha
            made.append(sha)
            self.log(f"Checkpoint experiment iteration '{sha[:7]}'.")

        interrupted = False
        ran: list[str] = []
        try:
            ran = self.pipeline.reproduce(
                targets,
                force=force,
                reset_checkpoints=reset,
                resume_checkpoints=resume is not None,
                on_checkpoint=on_checkpoint,
                on_output=on_output,
                stop=stop,
            )
        except KeyboardInterrupt:
            if not made:
                raise
            interrupted = True
        if not interrupted and (not made or self._workspace_differs(state["parent"])):
            on_checkpoint("")  # the final state, when training changed files after its last checkpoint
        result = ExpResult(state["name"], state["parent"], state["ref"], baseline, ran, made)
        result.interrupted = interrupted
        return result

    def _inputs_differ(self, sha: str) -> bool:
        """True when code, params, data or pipeline files differ from commit ``sha`` (a modified checkpoint
        experiment). The stages' own outputs do not count: after Ctrl-C they hold what training left
        (a partly logged step, the live report redrawn at exit), which a resumed run writes over."""
        try:
            current, committed = self.git.workspace_files(), self.git.flatten(sha)
        except SCMError:
            return True
        produced: set[str] = set()
        for stage in self.pipeline.stages().values():
            produced.update(out.path for out in stage.outs)
            produced.update(posixpath.normpath(posixpath.join(stage.wdir, f"{d}.html")) for d in stage.live)
        changed = {path for path in current.keys() | committed.keys() if current.get(path) != committed.get(path)}
        return any(not any(path == out or path.startswith(out + "/") for out in produced) for path in changed)

    def _workspace_differs(self, sha: str) -> bool:
        """True when the files on disk are not exactly those of commit ``sha``."""
        try:
            return self.git.workspace_files() != self.git.flatten(sha)
        except SCMError:
            return True
