"""Running the experiment queue on a Dask cluster (``exp run --run-all --dask ADDRESS``).

One Dask task per queued entry; nothing assumes a worker shares the user's disk:

- the task receives the entry's Git objects as bytes (the queued commit's tree, its baseline commit and
  tree), builds a private repository from them in a temporary folder on the worker and runs the entry
  there exactly as the local executor does (a workspace detached at the baseline, ``Runner`` with
  ``in_workspace=False``);
- cached outputs travel through the default data remote (any fsspec URL the workers reach): the client
  first pushes the objects the queued commits reference, the worker fetches them into a cache of its own,
  checks them out (unchanged stages do not run) and, after the run, pushes the new outputs;
- the task returns the result's Git objects (every commit, tree and blob the run made) and its log; the
  client stores them, points the experiment ref at the result and pulls the outputs back into its cache.

Without a default data remote the workers use the repository's cache directory itself (shared-filesystem
mode): that works for a cluster on this machine or on hosts mounting the same path, and a worker that
cannot see the directory fails the entry with a message saying to add a data remote. The workers need
jupyter-exp (``pip install jupyter-exp[dask]``) and whatever the pipeline's commands need.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import tempfile
import threading
import time
import traceback
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_exp.config import write_config
from jupyter_exp.data.remote import Remote, RemoteError
from jupyter_exp.data.remote_config import default_remote, get_remote
from jupyter_exp.errors import ExperimentError, JupyterExpError
from jupyter_exp.experiments.commit import CommitLock, auto_names, claim_ref, commit_content, lock_hash
from jupyter_exp.experiments.manage import commit_outputs
from jupyter_exp.experiments.queue import RUNS_DIR, Log, QueueEntry, record_failure
from jupyter_exp.experiments.run import ExpResult, Runner
from jupyter_exp.fsutil import atomic_write_text
from jupyter_exp.pipeline import Pipeline
from jupyter_exp.scm.git import Git

if TYPE_CHECKING:
    from distributed import Client, Future

_STOP_GRACE_S = 20.0  # a stopped task ends its stage and returns what it completed (checkpoints)
_POLL_S = 0.02


class DaskExecutorError(ExperimentError):
    """The Dask cluster cannot be reached or used."""


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to run one queued entry, as plain picklable data."""

    entry_id: str
    baseline: str
    name: str | None
    targets: tuple[str, ...]
    force: bool
    objects: bytes  # the Git objects of the queued commit and its baseline (Git.export_objects)
    config_local: bytes | None  # the repository's .dvc/config.local: local settings apply to the run too
    remote: tuple[str, str, dict[str, Any]] | None  # (name, url, storage options); None: shared cache
    shared_cache: str | None  # the repository's cache directory, used in shared-filesystem mode
    stop_event: str  # name of the distributed.Event the client sets to stop every task of this run


# -- the worker side ------------------------------------------------------------------------------------


def run_queued_entry(job: Job) -> dict[str, Any]:
    """The Dask task: run one queued entry in a temporary folder of this worker.

    Returns ``{"result": ExpResult fields, "objects": bytes, "log": str}``, or ``{"error": str, "log": str}``,
    or ``{"interrupted": True, "log": str}`` when stopped before anything was recorded.
    """
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix=f"jupyter-exp-{job.entry_id[:7]}-") as tmp:
        try:
            outcome = _run_job(job, Path(tmp), lines.append)
        except JupyterExpError as exc:
            lines.append(f"ERROR: {exc}")
            outcome = {"error": str(exc)}
        except KeyboardInterrupt:
            outcome = {"interrupted": True}
        except Exception as exc:  # a bug: keep the traceback in the log, report the failure
            lines.append(traceback.format_exc())
            outcome = {"error": f"{type(exc).__name__}: {exc}"}
    return {**outcome, "log": "\n".join(lines) + "\n"}


def _run_job(job: Job, tmp: Path, say: Log) -> dict[str, Any]:
    cache_dir = _cache_dir(job, tmp)
    store = Git.init_bare(tmp / "git")
    shipped = store.import_objects(job.objects)
    workspace = tmp / "ws"
    store.add_linked_workspace(workspace, files_of=job.entry_id, head=job.baseline)
    if job.config_local is not None:
        (workspace / ".dvc").mkdir(exist_ok=True)
        (workspace / ".dvc" / "config.local").write_bytes(job.config_local)
    write_config(workspace, "cache", "dir", str(cache_dir), local=True)
    git = Git(workspace)
    pipeline = Pipeline(workspace, log=say)
    remote = Remote(*job.remote) if job.remote else None
    if remote is not None:
        try:
            remote.fetch(pipeline.cache, commit_outputs(git, job.entry_id))
        except RemoteError as exc:
            say(f"Some cached outputs could not be fetched ({exc}); their stages will run.")
    try:
        pipeline.checkout(force=True)  # the queued outputs: unchanged stages need not run
    except JupyterExpError as exc:
        say(f"Some cached outputs could not be checked out ({exc}); their stages will run.")
    with _stop_signal(job.stop_event) as stop:
        result = Runner(pipeline, git, say, in_workspace=False).run(
            None,
            name=job.name,
            force=job.force,
            targets=list(job.targets) or None,
            on_output=say,
            stop=stop,
        )
    if remote is not None:
        remote.push(pipeline.cache, _outputs_of_run(git, result))
    made = git.ancestors(result.rev, stop=[result.baseline])  # every commit of the run, checkpoints too
    return {"result": asdict(result), "objects": store.export_objects(made, exclude=shipped)}


def _cache_dir(job: Job, tmp: Path) -> Path:
    if job.shared_cache is None:
        return tmp / "cache"
    shared = Path(job.shared_cache)
    if not shared.is_dir():
        raise DaskExecutorError(
            f"no default data remote is configured, so Dask workers use the repository's cache "
            f"'{shared}' directly, and this worker (host '{socket.gethostname()}') cannot see it: workers "
            "on other hosts need a data remote they can reach (`jupyter exp remote add -d NAME URL`)"
        )
    return shared


@contextlib.contextmanager
def _stop_signal(event_name: str) -> Any:
    """A local event set when the client sets the cluster-wide ``distributed.Event`` of this run."""
    stop = threading.Event()
    done = threading.Event()
    from distributed import Event, get_worker

    try:
        cluster_event = Event(event_name, client=get_worker().client)
    except ValueError:  # not inside a Dask task: nothing can ask this run to stop
        yield stop
        return

    def watch() -> None:
        while not done.is_set():
            try:
                if cluster_event.wait(timeout=0.5):
                    stop.set()
                    return
            except Exception:  # the scheduler is gone: the run goes on, its result may still be wanted
                return

    watcher = threading.Thread(target=watch, name="jupyter-exp-stop", daemon=True)
    watcher.start()
    try:
        yield stop
    finally:
        done.set()  # the watcher ends after its current wait; the task need not wait for it


def _outputs_of_run(git: Git, result: ExpResult) -> dict[str, str]:
    """md5 -> output path of every commit the run made (each checkpoint too)."""
    objects: dict[str, str] = {}
    for sha in git.ancestors(result.rev, stop=[result.baseline]):
        for md5, path in commit_outputs(git, sha).items():
            objects.setdefault(md5, path)
    return objects


# -- the client side ------------------------------------------------------------------------------------


class DaskExecutor:
    """Runs the queue as Dask tasks on the scheduler at ``address``, or on a local cluster of ``jobs``
    single-threaded worker processes when ``address`` is None. Plugs into ``queue.run_all(executor=...)``.
    """

    def __init__(self, address: str | None = None, *, connect_timeout: float = 30.0) -> None:
        self.address = address
        self.connect_timeout = connect_timeout

    def run(
        self,
        pipeline: Pipeline,
        git: Git,
        todo: list[QueueEntry],
        *,
        jobs: int,
        log: Log,
        stop: threading.Event | None,
    ) -> list[ExpResult]:
        remote = get_remote(git.root) if default_remote(git.root) else None
        if remote is None:
            log(
                "No default data remote: the Dask workers use the cache at "
                f"'{pipeline.cache.cache_dir.resolve()}' directly, so they must see this path "
                "(for workers on other hosts, add one with `jupyter exp remote add -d NAME URL`)."
            )
        else:
            _push_inputs(git, pipeline, remote, todo)
        with self._client(jobs) as client:
            return _Run(client, pipeline, git, remote, log).run(todo, stop)

    @contextlib.contextmanager
    def _client(self, jobs: int) -> Any:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise DaskExecutorError(
                "running the queue on Dask needs dask.distributed: `pip install jupyter-exp[dask]`"
            ) from exc
        if self.address is None:
            cluster = LocalCluster(
                n_workers=max(1, jobs), threads_per_worker=1, processes=True, dashboard_address=None
            )
            try:
                with Client(cluster, set_as_default=False) as client:
                    yield client
            finally:
                cluster.close()
            return
        try:
            client = Client(self.address, timeout=self.connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise DaskExecutorError(f"cannot reach the Dask scheduler at '{self.address}': {exc}") from exc
        with client:
            yield client


def _push_inputs(git: Git, pipeline: Pipeline, remote: Remote, todo: list[QueueEntry]) -> None:
    """Upload the cached outputs the queued commits reference (those this cache has) for the workers."""
    cache = pipeline.cache
    objects: dict[str, str] = {}
    for entry in todo:
        for md5, path in commit_outputs(git, entry.id).items():
            if cache.object_path(md5).is_file():
                objects.setdefault(md5, path)
    remote.push(cache, objects)


class _Run:
    """One ``run_all`` on a Dask client: submit every entry, record results as they come back."""

    def __init__(self, client: Client, pipeline: Pipeline, git: Git, remote: Remote | None, log: Log) -> None:
        self.client = client
        self.pipeline = pipeline
        self.git = git
        self.remote = remote
        self.log = log
        self.stop_event = f"jupyter-exp-stop-{uuid.uuid4().hex}"
        self.runs_dir = git.root / RUNS_DIR

    def run(self, todo: list[QueueEntry], stop: threading.Event | None) -> list[ExpResult]:
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        running: dict[Future, QueueEntry] = {}
        results: dict[str, ExpResult] = {}
        try:
            for entry in todo:
                running[self._submit(entry)] = entry
            while running:
                if stop is not None and stop.is_set():
                    raise KeyboardInterrupt
                finished = [future for future in running if future.done()]
                if not finished:
                    time.sleep(_POLL_S)
                    continue
                for future in finished:
                    entry = running.pop(future)
                    results[entry.id] = self._finish(entry, _outcome(future))
        except BaseException:  # Ctrl-C or stop: the tasks end their stages; completed checkpoints are kept
            self._stop(running)
            raise
        return [results[entry.id] for entry in todo]

    def _submit(self, entry: QueueEntry) -> Future:
        local = self.git.root / ".dvc" / "config.local"
        job = Job(
            entry_id=entry.id,
            baseline=entry.baseline,
            name=entry.name,
            targets=entry.targets,
            force=entry.force,
            objects=self.git.export_objects([entry.id, entry.baseline]),
            config_local=local.read_bytes() if local.is_file() else None,
            remote=(self.remote.name, self.remote.url, self.remote.storage_options) if self.remote else None,
            shared_cache=None if self.remote else str(self.pipeline.cache.cache_dir.resolve()),
            stop_event=self.stop_event,
        )
        future = self.client.submit(
            run_queued_entry, job, key=f"jupyter-exp-{entry.id[:12]}-{uuid.uuid4().hex[:8]}", pure=False
        )
        self.log(f"Running queued experiment '{entry.label}' on Dask ({self.client.scheduler.address})")
        return future

    def _finish(self, entry: QueueEntry, outcome: dict[str, Any]) -> ExpResult:
        log_path = self.runs_dir / f"{entry.id}.log"
        if "result" in outcome:
            try:
                result = self._adopt(entry, outcome)
            except JupyterExpError as exc:
                outcome = {**outcome, "error": str(exc)}
            else:
                self.git.delete_ref(entry.ref)
                log_path.unlink(missing_ok=True)
                self.log(f"Reproduced experiment(s): {result.name}")
                return result
        error = "interrupted" if outcome.get("interrupted") else str(outcome.get("error"))
        atomic_write_text(log_path, outcome.get("log") or "")
        failed = record_failure(self.git, entry, error)
        self.log(f"Failed to reproduce experiment '{entry.label}': {error} (output: {log_path})")
        return ExpResult(entry.label, entry.id, failed.ref, entry.baseline, error=error)

    def _adopt(self, entry: QueueEntry, outcome: dict[str, Any]) -> ExpResult:
        """Store the run's Git objects, point its experiment ref at it and pull its outputs into the cache."""
        result = ExpResult(**outcome["result"])
        with CommitLock(self.git):
            self.git.import_objects(outcome["objects"])
            if self.git.get_ref(result.ref) != result.rev:  # not adopted yet (a stop may adopt twice)
                auto = auto_names(lock_hash(self.git.flatten(result.rev)))
                done = claim_ref(
                    self.git, result.baseline, commit_content(self.git, result.rev), lambda: result.rev,
                    names=(entry.name,) if entry.name else itertools.chain((result.name,), auto),
                    given=bool(entry.name), force=entry.force, reuse=not result.checkpoints,
                )
                result.name, result.ref, result.rev, result.reused = done.name, done.ref, done.sha, done.reused
        if self.remote is not None:
            try:
                self.remote.fetch(self.pipeline.cache, _outputs_of_run(self.git, result))
            except RemoteError as exc:
                self.log(f"Outputs of '{result.name}' stay on the data remote: {exc}")
        return result

    def _stop(self, running: dict[Future, QueueEntry]) -> None:
        """Ask every task to stop, keep what they completed (checkpoints); their entries stay queued."""
        if not running:
            return
        from distributed import Event

        Event(self.stop_event, client=self.client).set()
        deadline = time.monotonic() + _STOP_GRACE_S
        while time.monotonic() < deadline and not all(future.done() for future in running):
            time.sleep(_POLL_S)
        for future, entry in running.items():
            if future.done() and future.status == "finished":
                outcome = future.result()
                if "result" in outcome:
                    with contextlib.suppress(JupyterExpError):
                        self._adopt(entry, outcome)
        self.client.cancel(list(running))


def _outcome(future: Future) -> dict[str, Any]:
    """The task's answer, or an error saying why there is none (the worker died, the task raised)."""
    try:
        return future.result()
    except Exception as exc:
        return {"error": f"the Dask task failed: {type(exc).__name__}: {exc}", "log": ""}
