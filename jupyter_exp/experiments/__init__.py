"""Lightweight experiments on custom Git refs: run, show, diff, apply, branch, list, remove, gc, push, pull.

:class:`Experiments` is the facade the API layer exposes as ``Repo.experiments``. It returns plain data
(:class:`ExpTable`, :class:`ExpResult`, :class:`DiffResult`, lists) and raises ``jupyter_exp.errors``
exceptions; progress messages go to the ``log`` callable the front end passes, never to stdout.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from jupyter_exp.errors import ExperimentError
from jupyter_exp.pipeline.rwlock import write_lock

if TYPE_CHECKING:
    from jupyter_exp.experiments.collect import Collector
    from jupyter_exp.experiments.diff import DiffResult
    from jupyter_exp.experiments.queued import QueueEntry
    from jupyter_exp.experiments.run import ExpResult
    from jupyter_exp.experiments.sweep import SweepResult
    from jupyter_exp.experiments.table import ExpRow, ExpTable
    from jupyter_exp.pipeline import Pipeline
    from jupyter_exp.scm.git import Git

__all__ = ["DiffResult", "ExpResult", "ExpRow", "ExpTable", "Experiments", "SweepResult"]

Log = Callable[[str], None]
_LAZY = {"DiffResult": "diff", "ExpResult": "run", "ExpRow": "table", "ExpTable": "table", "SweepResult": "sweep"}


def __getattr__(name: str) -> Any:
    """The result types load with the code that makes them: `exp run` does not pay for `show`/`diff`."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"jupyter_exp.experiments.{_LAZY[name]}"), name)
    raise AttributeError(name)


def _quiet(_: str) -> None:
    pass


class Experiments:
    """Experiments of one repository: a :class:`Pipeline` to reproduce and a :class:`Git` to commit to."""

    def __init__(self, pipeline: Pipeline | Callable[[], Pipeline], git: Git, *, log: Log | None = None) -> None:
        self._pipeline = pipeline
        self.git = git
        self.log = log or _quiet
        self._collector: Collector | None = None

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline, made on first use when given as a factory: a warm ``exp show`` reads cached rows
        and never needs it (its code is a third of the CLI's start-up)."""
        if callable(self._pipeline):
            self._pipeline = self._pipeline()
        return self._pipeline

    @property
    def collector(self) -> Collector:
        if self._collector is None:
            from jupyter_exp.experiments.collect import Collector

            self._collector = Collector(self.git, self.git.root, lambda: self.pipeline.cache)
        return self._collector

    def run(
        self,
        params: list[str] | Mapping[str, Any] | None = None,
        name: str | None = None,
        force: bool = False,
        targets: list[str] | None = None,
        reset: bool = False,
        *,
        queue: bool = False,
        on_output: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> ExpResult:
        """Apply ``-S`` overrides, reproduce, and record the workspace as an experiment of HEAD.

        ``stop`` set from another thread interrupts the run like Ctrl-C (completed checkpoints are kept).
        ``queue`` records the experiment for :meth:`run_all` instead (workspace untouched, nothing runs).
        """
        from jupyter_exp.experiments.grid import is_grid
        from jupyter_exp.experiments.run import Runner

        if is_grid(params):
            raise ExperimentError(
                f"-S {' -S '.join(params or ())} is a grid of experiments: run it with `experiments.grid(...)`"
            )
        if queue:
            from jupyter_exp.experiments.queue import enqueue

            return enqueue(self.git, params, name=name, force=force, targets=targets, log=self.log)

        with write_lock(self.pipeline.root, "exp run", log=self.log):
            return Runner(self.pipeline, self.git, self.log).run(
                params, name=name, force=force, targets=targets, reset=reset, on_output=on_output, stop=stop
            )

    @staticmethod
    def is_grid(params: Iterable[str] | None) -> bool:
        """True when some ``-S`` override sweeps values (``lr=0.1,0.2``, ``range()``, ``choice()``): a grid."""
        from jupyter_exp.experiments.grid import is_grid

        return is_grid(params)

    def grid(
        self,
        params: list[str],
        name: str | None = None,
        force: bool = False,
        targets: list[str] | None = None,
        *,
        queue: bool = False,
        on_output: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> list[ExpResult]:
        """Every combination of the sweeping ``-S`` overrides (``lr=0.1,0.2``, ``epochs=range(1,3)``):
        queued with ``queue``, else run in turn in the workspace (which ends with the last one's results).
        ``name`` becomes ``name-1``, ``name-2``, ... as DVC names a queued grid."""
        from jupyter_exp.experiments.grid import expand, grid_names

        combos = expand(params)
        results = []
        for combo, combo_name in zip(combos, grid_names(name, len(combos)), strict=True):
            if stop is not None and stop.is_set():
                raise KeyboardInterrupt
            result = self.run(
                combo, combo_name, force, targets, queue=queue, on_output=on_output, stop=stop
            )
            results.append(result)
            if result.interrupted:
                break
        return results

    def sweep(
        self,
        params: list[str],
        n_trials: int,
        *,
        objective: str,
        direction: str = "minimize",
        jobs: int = 1,
        study: str | None = None,
        seed: int | None = None,
        targets: list[str] | None = None,
        stop: threading.Event | None = None,
    ) -> SweepResult:
        """An Optuna search over ``params`` (``lr=loguniform(1e-4,1e-1)``, ``layers=int(1,4)``, ``opt=a,b``):
        ``n_trials`` experiments, ``jobs`` at a time, each queued, run in its own workspace and committed;
        ``objective`` (``acc`` or ``metrics.json:acc``) is read from each one's metrics. The study is kept
        in ``.dvc/tmp``, so the same sweep (or ``study`` name) run again continues it."""
        from jupyter_exp.experiments.sweep import Sweep

        search = Sweep(
            self, params, objective=objective, direction=direction, study=study, seed=seed, targets=targets
        )
        return search.run(n_trials, jobs=jobs, stop=stop)

    def check_sweep(self, params: list[str], *, objective: str, direction: str = "minimize") -> None:
        """Raise the error :meth:`sweep` would for a bad search space or direction, without running."""
        from jupyter_exp.experiments.sweep import Sweep

        Sweep(self, params, objective=objective, direction=direction)

    def run_all(
        self, jobs: int = 1, *, stop: threading.Event | None = None, dask: str | bool | None = None
    ) -> list[ExpResult]:
        """Run the queued experiments, ``jobs`` at a time, each in a workspace of its own.

        One result per entry in queue order; a failed one has ``error`` set and stays queued, marked failed.
        ``stop`` set from another thread stops them like Ctrl-C (the entries stay queued). ``dask`` runs
        them on a Dask cluster: a scheduler address, or True for a local cluster of ``jobs`` workers.
        """
        from jupyter_exp.experiments.queue import run_all

        executor = None
        if dask:
            from jupyter_exp.experiments.dask_executor import DaskExecutor

            executor = DaskExecutor(dask if isinstance(dask, str) else None)
        return run_all(self.pipeline, self.git, jobs=jobs, log=self.log, stop=stop, executor=executor)

    def show(self, **filters: Any) -> ExpTable:
        """The ``exp show`` table; ``filters`` are :class:`~jupyter_exp.experiments.show.ShowOptions` fields."""
        from jupyter_exp.experiments.show import ShowOptions, show

        return show(self.git, self.collector, ShowOptions(**filters))

    def data(self, rev: str) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """(params, metrics) of ``workspace``, an experiment name, or any Git revision."""
        from jupyter_exp.experiments.apply import resolve_exp
        from jupyter_exp.fsutil import WorkspaceTree

        if rev == "workspace":
            data = self.collector.read(WorkspaceTree(self.git.root))
        else:
            data = self.collector.commit(resolve_exp(self.git, rev)[0])
            self.collector.save()
        return data.params, data.metrics

    def diff(self, a: str | None = None, b: str | None = None, *, include_all: bool = False) -> DiffResult:
        """Metrics and params of ``b`` (default: the workspace) against ``a`` (default: HEAD)."""
        from jupyter_exp.experiments.diff import DiffResult, compare

        a, b = a or "HEAD", b or "workspace"
        old_params, old_metrics = self.data(a)
        new_params, new_metrics = self.data(b)
        return DiffResult(
            a,
            b,
            metrics=compare(old_metrics, new_metrics, include_all=include_all),
            params=compare(old_params, new_params, include_all=include_all),
        )

    def apply(self, rev: str, force: bool = False) -> str:
        """Bring experiment ``rev`` into the workspace; returns its commit sha."""
        from jupyter_exp.experiments.apply import apply

        with write_lock(self.pipeline.root, "exp apply", log=self.log):
            return apply(self.pipeline, self.git, rev, force=force, log=self.log)

    def branch(self, exp: str, branch: str | None = None) -> str:
        """Create a Git branch from an experiment; returns the release's message."""
        from jupyter_exp.experiments.apply import branch as make_branch

        with write_lock(self.pipeline.root, "exp branch", log=self.log):
            return make_branch(self.git, exp, branch, log=self.log)

    def list(self, rev: str | None = None, *, all: bool = False) -> dict[str, list[str]]:  # noqa: A002
        """Baseline name -> experiment names."""
        from jupyter_exp.experiments.manage import list_experiments

        return list_experiments(self.git, rev, all_baselines=all)

    def remove(
        self,
        names: Iterable[str] = (),
        *,
        rev: str | None = None,
        all_commits: bool = False,
        queue: bool = False,
    ) -> list[str]:
        """Remove experiments (or queued ones) by name, by baseline ``rev``, all, or the whole ``queue``."""
        from jupyter_exp.experiments.manage import remove

        with write_lock(self.pipeline.root, "exp remove", log=self.log):
            removed = remove(self.git, names, rev=rev, all_commits=all_commits, queue=queue)
        self.log(f"Removed experiments: {', '.join(removed)}" if removed else "No experiments to remove.")
        return removed

    def gc(
        self,
        *,
        workspace: bool = False,
        all_branches: bool = False,
        all_tags: bool = False,
        all_commits: bool = False,
        queued: bool = False,
        confirm: Callable[[str], bool] | None = None,
    ) -> list[str]:
        """Remove experiments whose baselines are not kept, and the queue unless ``queued`` (as DVC);
        ``confirm`` asks the user first."""
        from jupyter_exp.experiments.manage import KeptBaselines, gc

        kept = KeptBaselines(workspace, all_branches, all_tags, all_commits)
        with write_lock(self.pipeline.root, "exp gc", log=self.log):
            removed = gc(self.git, kept, queued=queued, confirm=confirm)
        self.log(f"Removed {len(removed)} experiments." if removed else "No experiments to remove.")
        return removed

    def push(
        self, remote: str, names: Iterable[str] = (), *, all: bool = False, force: bool = False
    ) -> list[str]:  # noqa: A002
        from jupyter_exp.experiments.manage import push

        with write_lock(self.pipeline.root, "exp push", log=self.log):
            pushed = push(self.git, remote, names, all_exps=all, force=force)
        for ref in pushed:
            self.log(f"Pushed experiment '{ref.rsplit('/', 1)[-1]}' to Git remote '{remote}'.")
        return pushed

    def pull(
        self, remote: str, names: Iterable[str] = (), *, all: bool = False, force: bool = False
    ) -> list[str]:  # noqa: A002
        from jupyter_exp.experiments.manage import pull

        with write_lock(self.pipeline.root, "exp pull", log=self.log):
            pulled = pull(self.git, remote, names, all_exps=all, force=force)
        for ref in pulled:
            self.log(f"Pulled experiment '{ref.rsplit('/', 1)[-1]}' from Git remote '{remote}'.")
        return pulled

    def queued(self) -> list[QueueEntry]:
        """The queue's entries (queued and failed), oldest first."""
        from jupyter_exp.experiments.queued import entries

        return entries(self.git)

    def running(self) -> list[QueueEntry]:
        """The queue entries a local worker is running now (``run_all``, a sweep's trials); ``show()``
        gives their rows the metrics logged so far."""
        from jupyter_exp.experiments.queued import entries, running_workspaces

        workspaces = running_workspaces(self.git)
        return [entry for entry in entries(self.git) if entry.id in workspaces]

    def show_running(self) -> ExpTable:
        """The ``show()`` rows of the entries a worker runs now (their live metrics), without the rest of
        the table: cheap enough to poll every second in a repository of 10,000 experiments."""
        from jupyter_exp.experiments.show import running_rows

        return running_rows(self.git, self.collector)

    def used_objects(self) -> set[str]:
        """md5s every experiment's (and queued one's) ``dvc.lock`` references, so cache gc keeps them."""
        from jupyter_exp.experiments.queued import entries
        from jupyter_exp.experiments.refs import exp_refs
        from jupyter_exp.pipeline import lock as lockfile

        used: set[str] = set()
        seen: set[str] = set()
        tips = [(tip, info.baseline) for info, tip in exp_refs(self.git).items()]
        tips += [(entry.rev, entry.baseline) for entry in entries(self.git)]
        for tip, baseline in tips:
            for sha in self.git.ancestors(tip, stop=[baseline]):
                if sha in seen:
                    break
                seen.add(sha)
                tree = self.git.tree(sha)
                if not tree.exists("dvc.lock"):
                    continue
                for entry in lockfile.load_text(tree.read_bytes("dvc.lock").decode(), "dvc.lock").values():
                    for out in entry.get("outs") or []:
                        if out.get("md5"):
                            used.add(out["md5"])
                            if out["md5"].endswith(".dir"):
                                cache = self.pipeline.cache
                                if cache.object_path(out["md5"]).is_file():
                                    used.update(e.md5 for e in cache.load_dir_manifest(out["md5"]))
        return used
