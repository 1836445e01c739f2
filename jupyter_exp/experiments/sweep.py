"""Optuna sweeps: each trial is a queued experiment, run in a workspace of its own and committed under refs/exps.

``-S 'lr=loguniform(1e-4,1e-1)' -S 'layers=int(1,4)'`` is the search space (also ``uniform(a,b)``,
``logint(a,b)``, and categorical ``choice(a,b)``, ``a,b`` or ``range(...)`` in the grid syntax); other
``-S`` overrides apply to every trial. Optuna asks for a trial's values, they are queued as an experiment
(named ``<study>-<trial number>``) and run by the queue's worker processes, ``jobs`` at a time; the
objective is read from the experiment's committed metrics and told to the study. While a trial runs, the
objective's live-logger history (``<live dir>/<metric>.tsv`` of its workspace) is reported step by step,
so Optuna's pruner can stop an unpromising trial (its queue entry is dropped, the trial marked pruned).

The study lives in SQLite at ``.dvc/tmp/jupyter-exp/sweeps.sqlite``; the default study name is derived
from the search space, objective and direction, so running the same sweep again resumes it. A summary
(``.dvc/tmp/jupyter-exp/sweeps/<study>.json``) names the best trial's experiment for ``exp show`` and the
table widget without importing Optuna.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_exp.errors import ExperimentError
from jupyter_exp.experiments.commit import lock_file
from jupyter_exp.experiments.grid import split_top_level, sweep_values
from jupyter_exp.experiments.queue import (
    RUNS_DIR,
    Worker,
    enqueue,
    entries,
    finish_worker,
    remove_entries,
    start_worker,
    stop_workers,
)
from jupyter_exp.experiments.studies import SWEEPS_DIR
from jupyter_exp.fsutil import atomic_write_text

if TYPE_CHECKING:
    from jupyter_exp.experiments import Experiments

Log = Callable[[str], None]
STORAGE = Path(".dvc", "tmp", "jupyter-exp", "sweeps.sqlite")
DIRECTIONS = ("minimize", "maximize")
_DISTRIBUTIONS = ("uniform", "loguniform", "int", "logint")


@dataclass(frozen=True)
class Param:
    """One searched param: the override's key (``[file:]key``) and its distribution."""

    key: str
    kind: str  # uniform | loguniform | int | logint | choice
    args: tuple[Any, ...]

    def distribution(self) -> Any:
        from optuna import distributions

        if self.kind == "choice":
            return distributions.CategoricalDistribution(self.args)
        low, high = self.args
        if self.kind in ("int", "logint"):
            return distributions.IntDistribution(low, high, log=self.kind == "logint")
        return distributions.FloatDistribution(low, high, log=self.kind == "loguniform")


@dataclass
class Trial:
    """One trial as the sweep saw it end."""

    number: int
    state: str  # complete | pruned | failed
    params: dict[str, Any]
    value: float | None = None
    name: str | None = None  # the experiment (complete trials)
    rev: str | None = None
    error: str | None = None


@dataclass
class SweepResult:
    study: str
    objective: str
    direction: str
    trials: list[Trial] = field(default_factory=list)  # this run's trials, in the order they ended
    best: Trial | None = None  # the study's best trial so far (earlier runs included)


def _parse_bounds(override: str, kind: str, args: list[str]) -> tuple[Any, Any]:
    from jupyter_exp.serialize import parse_value

    values = [parse_value(a) for a in args]
    integer = kind in ("int", "logint")
    wanted = int if integer else (int, float)
    if len(values) != 2 or not all(isinstance(v, wanted) and not isinstance(v, bool) for v in values):
        raise ExperimentError(f"Invalid `--set-param` '{override}': use {kind}(low, high) with numbers")
    low, high = values if integer else (float(values[0]), float(values[1]))
    if low >= high or (kind.startswith("log") and low <= 0):
        raise ExperimentError(
            f"Invalid `--set-param` '{override}': {kind}() needs low < high"
            + (" and low > 0" if "log" in kind else "")
        )
    return low, high


def parse_space(overrides: list[str]) -> tuple[list[Param], list[str]]:
    """(the searched params, the fixed overrides) of ``-S`` words."""
    from jupyter_exp.serialize import parse_value

    space: list[Param] = []
    fixed: list[str] = []
    for override in overrides:
        key, sep, value = override.partition("=")
        name, _, args = value.strip().partition("(")
        if sep and name in _DISTRIBUTIONS and args.endswith(")"):
            bounds = _parse_bounds(override, name, split_top_level(args[:-1]))
            space.append(Param(key.strip(), name, bounds))
            continue
        choices = sweep_values(override)
        if choices is None:
            fixed.append(override)
            continue
        space.append(Param(key.strip(), "choice", tuple(parse_value(c) for c in choices)))
    if not space:
        raise ExperimentError(
            "a sweep needs a search space: -S 'key=loguniform(1e-4,1e-1)', 'key=int(1,4)', 'key=a,b', ..."
        )
    return space, fixed


def _study_name(space: list[Param], objective: str, direction: str) -> str:
    canonical = json.dumps([[p.key, p.kind, list(p.args)] for p in space] + [objective, direction])
    return "sweep-" + hashlib.sha256(canonical.encode()).hexdigest()[:5]


def _override(key: str, value: Any) -> str:
    return f"{key}={json.dumps(value) if not isinstance(value, str) else value}"


def objective_value(metrics: dict[str, dict[str, Any]], objective: str) -> float:
    """``objective`` (``acc`` or ``metrics.json:acc``) in an experiment's metrics, as a number."""
    file, sep, key = objective.rpartition(":")
    found = [
        (path, values[key]) for path, values in metrics.items() if key in values and (not sep or path == file)
    ]
    if not found:
        known = sorted(f"{path}:{k}" for path, values in metrics.items() for k in values)
        raise ExperimentError(
            f"objective '{objective}' is not among the experiment's metrics ({', '.join(known) or 'none'})"
        )
    if (
        len({value for _, value in found}) > 1
    ):  # the same value twice (a live summary and metrics.json) is fine
        raise ExperimentError(
            f"objective '{objective}' is in {', '.join(p for p, _ in found)}: name one as FILE:{key}"
        )
    value = found[0][1]
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ExperimentError(f"objective '{objective}' is {value!r}, not a number")
    return float(value)


@contextlib.contextmanager
def _study_lock(path: Path) -> Iterator[None]:
    """One sweep of a repository at a time: trials a dead sweep left running are then surely stale."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        lock_file(fd)
        yield
    finally:
        os.close(fd)


class _Running:
    """A trial in a worker, and how much of its live history was reported."""

    def __init__(self, trial: Any, worker: Worker, params: dict[str, Any]) -> None:
        self.trial = trial
        self.worker = worker
        self.params = params
        self.reported = -1  # last step told to Optuna


class Sweep:
    """One ``exp sweep --optuna N`` run over a repository's experiments."""

    def __init__(
        self,
        experiments: Experiments,
        overrides: list[str],
        *,
        objective: str,
        direction: str = "minimize",
        study: str | None = None,
        seed: int | None = None,
        targets: list[str] | None = None,
    ) -> None:
        if direction not in DIRECTIONS:
            raise ExperimentError(f"--direction must be minimize or maximize, not '{direction}'")
        self.exps = experiments
        self.git = experiments.git
        self.root = experiments.pipeline.root
        self.space, self.fixed = parse_space(overrides)
        self.objective, self.direction, self.seed = objective, direction, seed
        self.targets = targets
        self.name = study or _study_name(self.space, objective, direction)
        self.log = experiments.log
        self.history = self._live_history()  # what pruning watches

    def run(self, n_trials: int, *, jobs: int = 1, stop: threading.Event | None = None) -> SweepResult:
        if n_trials < 1 or jobs < 1:
            raise ExperimentError("a sweep needs at least one trial and one job")
        try:
            import optuna
        except ImportError:
            raise ExperimentError("Optuna sweeps need optuna: pip install 'jupyter-exp[optuna]'") from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = self.root / STORAGE
        with _study_lock(storage):
            study = optuna.create_study(
                study_name=self.name,
                storage=f"sqlite:///{storage}",
                direction=self.direction,
                sampler=optuna.samplers.TPESampler(seed=self.seed),
                pruner=optuna.pruners.MedianPruner(),
                load_if_exists=True,
            )
            stale = [
                t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.RUNNING
            ]
            for trial in stale:  # a sweep that died mid-trial: those trials will never report
                study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
            done = len(study.get_trials(deepcopy=False))
            self.log(
                f"{'Resuming' if done else 'Starting'} study '{self.name}' ({done} trials so far): "
                f"{n_trials} more, {jobs} at a time, {self.direction} '{self.objective}'"
            )
            result = SweepResult(self.name, self.objective, self.direction)
            try:
                self._loop(study, n_trials, jobs, stop, result)
            finally:
                result.best = self._best(study)
                self._write_summary(study, result)
        return result

    # -- the trial loop -----------------------------------------------------------------------------
    def _loop(
        self, study: Any, n_trials: int, jobs: int, stop: threading.Event | None, result: SweepResult
    ) -> None:
        runs_dir = self.root / RUNS_DIR
        runs_dir.mkdir(parents=True, exist_ok=True)
        cache_dir = self.exps.pipeline.cache.cache_dir.resolve()
        running: list[_Running] = []
        started = 0
        try:
            while started < n_trials or running:
                while started < n_trials and len(running) < jobs:
                    running.append(self._start(study, cache_dir, runs_dir))
                    started += 1
                if stop is not None and stop.is_set():
                    raise KeyboardInterrupt
                for item in list(running):
                    if item.worker.proc.poll() is not None:
                        running.remove(item)
                        result.trials.append(self._finish(study, item))
                    elif self._report(item):
                        running.remove(item)
                        result.trials.append(self._prune(study, item))
                time.sleep(0.05)
        except BaseException:
            import optuna

            stop_workers([item.worker for item in running])
            for item in running:
                remove_entries(self.git, [e for e in entries(self.git) if e.id == item.worker.entry.id])
                study.tell(item.trial, state=optuna.trial.TrialState.FAIL)
            raise

    def _start(self, study: Any, cache_dir: Path, runs_dir: Path) -> _Running:
        trial = study.ask({p.key: p.distribution() for p in self.space})
        params = dict(trial.params)
        words = [*self.fixed, *(_override(key, value) for key, value in params.items())]
        name = f"{self.name}-{trial.number}"
        trial.set_user_attr("experiment", name)
        queued = enqueue(self.git, words, name=name, targets=self.targets, log=_quiet)
        entry = next(e for e in entries(self.git) if e.id == queued.rev)
        self.log(f"Trial {trial.number}: {', '.join(words)}")
        return _Running(trial, start_worker(self.git, cache_dir, entry, runs_dir, _quiet), params)

    def _finish(self, study: Any, item: _Running) -> Trial:
        import optuna

        number = item.trial.number
        outcome = finish_worker(self.git, item.worker, _quiet)
        if outcome.error is None:
            try:
                _, metrics = self.exps.data(outcome.rev)
                value = objective_value(metrics, self.objective)
            except ExperimentError as exc:
                outcome.error = str(exc)
        if outcome.error is not None:
            item.trial.set_user_attr("error", outcome.error)
            study.tell(item.trial, state=optuna.trial.TrialState.FAIL)
            self.log(f"Trial {number} failed: {outcome.error}")
            return Trial(number, "failed", item.params, name=outcome.name, error=outcome.error)
        item.trial.set_user_attr("rev", outcome.rev)
        study.tell(item.trial, value)
        self.log(f"Trial {number} ({outcome.name}): {self.objective} = {value:g}")
        return Trial(number, "complete", item.params, value, outcome.name, outcome.rev)

    def _report(self, item: _Running) -> bool:
        """Tell Optuna the objective's new live steps; True when the pruner says stop."""
        from jupyter_exp.live.tsv import read_tsv

        if self.history is None:
            return False
        path = item.worker.workspace / self.history
        if not path.is_file():
            return False
        try:
            rows = read_tsv(path)
        except (OSError, ValueError):
            return False
        new = [row for row in rows if row.step > item.reported]
        for row in new:
            item.trial.report(float(row.value), int(row.step))
            item.reported = row.step
        return bool(new) and item.trial.should_prune()

    def _live_history(self) -> Path | None:
        """``<live dir>/<metric>.tsv`` (relative to a workspace) of the objective, if a stage logs live."""
        file, _, key = self.objective.rpartition(":")
        for stage in self.exps.pipeline.stages().values():
            for directory in stage.live:
                base = Path(stage.wdir) / directory
                if file and Path(file) != base.with_suffix(".json"):
                    continue
                return base / (key.replace(".", "/") + ".tsv")
        return None

    def _prune(self, study: Any, item: _Running) -> Trial:
        import optuna

        stop_workers([item.worker])
        remove_entries(self.git, [e for e in entries(self.git) if e.id == item.worker.entry.id])
        study.tell(item.trial, state=optuna.trial.TrialState.PRUNED)
        self.log(f"Trial {item.trial.number} pruned at step {item.reported}")
        return Trial(item.trial.number, "pruned", item.params)

    # -- results ------------------------------------------------------------------------------------
    def _best(self, study: Any) -> Trial | None:
        try:
            best = study.best_trial
        except ValueError:  # no complete trial yet
            return None
        attrs = best.user_attrs
        return Trial(
            best.number, "complete", dict(best.params), best.value, attrs.get("experiment"), attrs.get("rev")
        )

    def _write_summary(self, study: Any, result: SweepResult) -> None:
        trials = [
            {
                "number": t.number,
                "state": t.state.name.lower(),
                "params": t.params,
                "value": t.value,
                "experiment": t.user_attrs.get("experiment"),
            }
            for t in study.get_trials(deepcopy=False)
        ]
        summary = {
            "study": self.name,
            "objective": self.objective,
            "direction": self.direction,
            "best": asdict(result.best) if result.best else None,
            "trials": trials,
        }
        atomic_write_text(
            self.root / SWEEPS_DIR / f"{self.name}.json", json.dumps(summary, indent=1, default=str)
        )


def _quiet(_: str) -> None:
    pass
