"""Queued experiments (``exp run --queue``) and running the queue in parallel (``exp run --run-all -j N``).

A queued experiment is a commit of the workspace as it is (tracked files as on disk, untracked files that
are not ignored) with the ``-S`` overrides applied to the committed copy of the params files, so the
user's files stay untouched; its parent is the baseline (HEAD). It lives at
``refs/exps/celery/jupyter-exp/queued/<sha>``. DVC 3 keeps its own queue under ``refs/exps/celery/``
(``celery/stash``, ``celery/failed``) and skips that namespace when it lists experiments, so ``dvc exp
show/list/remove`` never take an entry for an experiment (``refs/exps/queue/<id>`` would be read as the
experiments of a baseline named ``queue<id>``). The commit message carries the name, targets and ``-f``.

``--run-all`` gives each entry a workspace of its own under ``.dvc/tmp/jupyter-exp/queue/``: the queued
commit's files, a ``.git`` whose ``commondir`` is the main repository's (commits and refs land there
directly; no fetch or push) and a ``.dvc/config.local`` pointing ``cache.dir`` at the main cache (outputs
are checked out from it, new ones saved to it, and the run cache is shared). Each entry runs in a worker
process, ``jobs`` at a time: a process is what an interrupt or a crash can stop without the others. A
success becomes an ordinary experiment of the baseline and leaves the queue; a failure stays, marked
failed as in DVC 3's ``celery/failed``, with its error in the entry and the run's output in a log file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from jupyter_exp import serialize
from jupyter_exp.config import write_config
from jupyter_exp.errors import ExperimentError, JupyterExpError
from jupyter_exp.experiments.commit import CommitLock, conflict_error
from jupyter_exp.experiments.queued import (
    RUNS_DIR,
    WORKER_PID,
    QueueEntry,
    entries,
    entry_message,
    entry_meta,
)
from jupyter_exp.experiments.refs import ExpRef, validate_name
from jupyter_exp.experiments.run import ExpResult, Runner, overrides_by_file
from jupyter_exp.fsutil import atomic_write_text
from jupyter_exp.pipeline import Pipeline
from jupyter_exp.protocol import pid_alive
from jupyter_exp.scm.git import FileEntry, Git

Log = Callable[[str], None]
_WORKER = "from jupyter_exp.experiments.queue import worker_main; worker_main()"
_STOP_GRACE_S = 20.0  # a worker forwards Ctrl-C to its stage and waits up to 10 s for it


def _overridden_blob(git: Git, path: str, overrides: list[str], entry: FileEntry | None) -> FileEntry:
    """The params file ``path`` with ``overrides`` applied, stored as a blob; the file on disk is not touched."""
    source = git.root / path
    if not source.is_file():
        raise ExperimentError(f"Cannot set params in '{path}': the file does not exist")
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / source.name  # same suffix: same format and comment-keeping writer
        shutil.copyfile(source, copy)
        serialize.apply_overrides(copy, overrides, name=path)
        sha = git.write_blob(copy.read_bytes())
    return (entry[0] if entry else 0o100644, sha)


def enqueue(
    git: Git,
    params: list[str] | Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    force: bool = False,
    targets: list[str] | None = None,
    log: Log,
) -> ExpResult:
    """Record the workspace plus ``params`` overrides as a queued experiment of HEAD; nothing runs."""
    if name is not None:
        validate_name(name, git)
    baseline = git.head()
    same_name = [e for e in entries(git) if e.name == name and e.baseline == baseline] if name else []
    if name is not None and not force and (same_name or git.get_ref(str(ExpRef(baseline, name)))):
        raise conflict_error(name)
    grouped = overrides_by_file(params)
    with CommitLock(git):
        files = git.workspace_files(write=True)
        for path, overrides in grouped.items():
            files[path] = _overridden_blob(git, path, overrides, files.get(path))
        meta = {
            "name": name,
            "targets": list(targets or []),
            "force": force,
            "params": [f"{path}:{o}" for path, items in grouped.items() for o in items],
            "order": time.time_ns(),
        }
        sha = git.commit_tree(git.write_tree(files), [baseline], entry_message(meta))
    for old in same_name:
        git.delete_ref(old.ref)
    entry = QueueEntry(sha, sha, baseline, git.commit_info(sha).time, meta["order"], name)
    git.set_ref(entry.ref, sha)
    log(f"Queued experiment '{entry.label}' for future execution.")
    return ExpResult(entry.label, sha, entry.ref, baseline, queued=True)


def remove_entries(git: Git, chosen: Iterable[QueueEntry]) -> list[str]:
    """Drop queue entries (and the logs of failed ones); returns their labels."""
    removed = []
    for entry in chosen:
        git.delete_ref(entry.ref)
        (git.root / RUNS_DIR / f"{entry.id}.log").unlink(missing_ok=True)
        removed.append(entry.label)
    return removed


# -- running the queue -------------------------------------------------------------------------------


@dataclass
class Worker:
    """A queued experiment running in its own workspace and process."""

    entry: QueueEntry
    workdir: Path
    log_path: Path
    proc: subprocess.Popen[bytes]

    @property
    def result_path(self) -> Path:
        return self.workdir / "result.json"

    @property
    def workspace(self) -> Path:
        """The run's own workspace (where its stages write, live logs included)."""
        return self.workdir / "ws"


def remove_abandoned_workspaces(runs_dir: Path) -> None:
    """Delete the workspaces of runs whose ``--run-all`` process and worker are both gone (killed: they
    could not clean up); a workspace is named ``<entry>-<pid of the run-all>-<random>`` and holds
    ``worker.pid`` once its worker started."""
    for workdir in runs_dir.iterdir():
        parts = workdir.name.split("-")
        if not (workdir.is_dir() and len(parts) == 3 and parts[1].isdigit()) or pid_alive(int(parts[1])):
            continue
        try:
            worker = int((workdir / WORKER_PID).read_text())
        except (OSError, ValueError):
            worker = None
        if worker is None or not pid_alive(worker):
            shutil.rmtree(workdir, ignore_errors=True)


def _prepare(git: Git, cache_dir: Path, entry: QueueEntry, runs_dir: Path) -> Path:
    """A workspace with the queued commit's files whose Git objects and refs are the main repository's."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{entry.id[:7]}-{os.getpid()}-", dir=runs_dir))
    try:
        _populate(git, cache_dir, entry, workdir / "ws")
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return workdir


def _populate(git: Git, cache_dir: Path, entry: QueueEntry, workspace: Path) -> None:
    # Detached at the baseline, like DVC's executors: the run commits its experiment on top of it.
    git.add_linked_workspace(workspace, files_of=entry.id, head=entry.baseline)
    local = git.root / ".dvc" / "config.local"
    if local.is_file():  # remotes and other local settings apply to the run too
        (workspace / ".dvc").mkdir(exist_ok=True)
        shutil.copyfile(local, workspace / ".dvc" / "config.local")
    write_config(workspace, "cache", "dir", str(cache_dir), local=True)


def start_worker(git: Git, cache_dir: Path, entry: QueueEntry, runs_dir: Path, log: Log) -> Worker:
    workdir = _prepare(git, cache_dir, entry, runs_dir)
    spec = {
        "entry": entry.id,
        "root": str(workdir / "ws"),
        "name": entry.name,
        "targets": list(entry.targets),
        "force": entry.force,
        "result": str(workdir / "result.json"),
    }
    spec_path = workdir / "spec.json"
    spec_path.write_text(json.dumps(spec))
    log_path = runs_dir / f"{entry.id}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        with open(log_path, "wb") as out:
            # A session of its own: a terminal's Ctrl-C reaches the parent only, which forwards it once.
            proc = subprocess.Popen(
                [sys.executable, "-c", _WORKER, str(spec_path)],
                cwd=workdir / "ws",
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    log(f"Running queued experiment '{entry.label}' (output: {log_path})")
    return Worker(entry, workdir, log_path, proc)


def record_failure(git: Git, entry: QueueEntry, error: str) -> QueueEntry:
    """Move the entry to ``failed/``: a commit with the same tree and baseline whose message has the error."""
    info = git.commit_info(entry.id)
    meta = {**(entry_meta(info.message) or {}), "error": error}
    sha = git.commit_tree(info.tree, [entry.baseline], entry_message(meta))
    failed = QueueEntry(
        entry.id, sha, entry.baseline, entry.created, entry.order, entry.name, entry.targets,
        entry.force, entry.params, error,
    )
    git.set_ref(failed.ref, sha)
    git.delete_ref(entry.ref)
    return failed


def finish_worker(git: Git, worker: Worker, log: Log) -> ExpResult:
    entry = worker.entry
    try:
        outcome = json.loads(worker.result_path.read_text())
    except (OSError, ValueError):
        outcome = {"error": f"the worker process exited with status {worker.proc.returncode}"}
    shutil.rmtree(worker.workdir, ignore_errors=True)
    if "result" in outcome:
        git.delete_ref(entry.ref)
        worker.log_path.unlink(missing_ok=True)
        result = ExpResult(**outcome["result"])
        log(f"Reproduced experiment(s): {result.name}")
        return result
    error = "interrupted" if outcome.get("interrupted") else str(outcome.get("error"))
    failed = record_failure(git, entry, error)
    log(f"Failed to reproduce experiment '{entry.label}': {error} (output: {worker.log_path})")
    return ExpResult(entry.label, entry.id, failed.ref, entry.baseline, error=error)


def stop_workers(workers: list[Worker]) -> None:
    """Ctrl-C for every running worker (each stops its stage), then wait; the entries stay queued."""
    for worker in workers:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            worker.proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + _STOP_GRACE_S
    for worker in workers:
        try:
            worker.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(worker.proc.pid, signal.SIGKILL)
            worker.proc.wait()
        shutil.rmtree(worker.workdir, ignore_errors=True)


class QueueExecutor(Protocol):
    """Runs queued entries somewhere other than local worker processes (e.g. the Dask executor).

    It gets the entries to run in queue order and owns the same contract as the local executor: one
    result per entry in that order, a success recorded as an experiment of its baseline and dropped from
    the queue, a failure kept there through :func:`record_failure`, ``KeyboardInterrupt`` on a stop.
    """

    def run(
        self,
        pipeline: Pipeline,
        git: Git,
        todo: list[QueueEntry],
        *,
        jobs: int,
        log: Log,
        stop: threading.Event | None,
    ) -> list[ExpResult]: ...


def run_all(
    pipeline: Pipeline,
    git: Git,
    *,
    jobs: int = 1,
    log: Log,
    stop: threading.Event | None = None,
    executor: QueueExecutor | None = None,
) -> list[ExpResult]:
    """Run every queued (not failed) experiment, ``jobs`` at a time; the user's workspace is not touched.

    Returns one result per entry, in queue order; failed ones have ``error`` set and stay in the queue.
    Ctrl-C, or ``stop`` set from another thread, stops the running ones (their entries stay queued) and
    raises ``KeyboardInterrupt``. ``executor`` runs them elsewhere; by default each runs in a local process.
    """
    todo = [entry for entry in entries(git) if not entry.failed]
    if not todo:
        log("No queued experiments to run.")
        return []
    if executor is not None:
        return executor.run(pipeline, git, todo, jobs=jobs, log=log, stop=stop)
    runs_dir = git.root / RUNS_DIR
    runs_dir.mkdir(parents=True, exist_ok=True)
    remove_abandoned_workspaces(runs_dir)
    cache_dir = pipeline.cache.cache_dir.resolve()
    pending = list(todo)
    running: list[Worker] = []
    results: dict[str, ExpResult] = {}
    try:
        while pending or running:
            while pending and len(running) < max(1, jobs):
                running.append(start_worker(git, cache_dir, pending.pop(0), runs_dir, log))
            if stop is not None and stop.is_set():
                raise KeyboardInterrupt
            finished = [worker for worker in running if worker.proc.poll() is not None]
            if not finished:
                time.sleep(0.01)
                continue
            for worker in finished:
                running.remove(worker)
                results[worker.entry.id] = finish_worker(git, worker, log)
    except BaseException:  # Ctrl-C, stop, or a workspace that could not be made: end the running ones
        stop_workers(running)
        raise
    return [results[entry.id] for entry in todo]


# -- the worker process ------------------------------------------------------------------------------


def _print(message: str) -> None:
    print(message, flush=True)


def _execute(spec: dict[str, Any]) -> dict[str, Any]:
    root = Path(spec["root"])
    try:
        pipeline = Pipeline(root, log=_print)
        try:
            pipeline.checkout(force=True)  # the queued outputs: unchanged stages need not run
        except JupyterExpError as exc:
            _print(f"Some cached outputs could not be checked out ({exc}); their stages will run.")
        runner = Runner(pipeline, Git(root), _print, in_workspace=False)
        result = runner.run(None, name=spec["name"], force=spec["force"], targets=spec["targets"] or None)
    except JupyterExpError as exc:
        _print(f"ERROR: {exc}")
        return {"error": str(exc)}
    except KeyboardInterrupt:
        return {"interrupted": True}
    except Exception as exc:  # a bug: keep the traceback in the log, report the failure
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"result": asdict(result)}


def worker_main() -> None:
    """Entry point of a worker process: ``python -c ... <spec.json>`` runs one queued experiment."""
    spec = json.loads(Path(sys.argv[1]).read_text())
    Path(sys.argv[1]).with_name(WORKER_PID).write_text(str(os.getpid()))
    outcome = _execute(spec)
    atomic_write_text(spec["result"], json.dumps(outcome))
    sys.exit(130 if outcome.get("interrupted") else 1 if "error" in outcome else 0)
