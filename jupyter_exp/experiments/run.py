"""``exp run``: apply param overrides, reproduce, commit the workspace on an experiment ref.

The commit is built from the files on disk (the Git layer's ``snapshot``) with the baseline as parent;
HEAD, the index and branches stay where they are and the results stay in the workspace. Checkpoint
stages commit each checkpoint on the same ref (parent: the previous checkpoint) while they train.
"""

from __future__ import annotations

import json
import posixpath
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_exp import serialize
from jupyter_exp.errors import ExperimentError, JupyterExpError, SCMError
from jupyter_exp.experiments.commit import CommitLock, commit_experiment, conflict_error
from jupyter_exp.experiments.refs import EXEC_APPLY, EXEC_CHECKPOINT, ExpRef, exp_refs, validate_name
from jupyter_exp.fsutil import TreeReader, WorkspaceTree
from jupyter_exp.pipeline import Pipeline
from jupyter_exp.pipeline.stage import Stage, build_stage
from jupyter_exp.pipeline.templating import resolve
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


def apply_param_overrides(root: Path, params: list[str] | Mapping[str, Any] | None) -> list[str]:
    """Edit the params files in place (format and comments kept); returns the files changed."""
    grouped = overrides_by_file(params)
    for path in grouped:
        if not (root / path).is_file():
            raise ExperimentError(f"Cannot set params in '{path}': the file does not exist")
    for path, overrides in grouped.items():
        serialize.apply_overrides(root / path, overrides, name=path)
    return list(grouped)


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
        done = commit_experiment(self.git, files, baseline=baseline, parent=baseline, name=name, force=force)
        return ExpResult(done.name, done.sha, done.ref, baseline, reused=done.reused)

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
            done = commit_experiment(
                self.git, files, baseline=baseline, parent=state["parent"], name=state["name"], force=force,
                checkpoint=True, extends=(state["ref"], state["parent"]) if state["ref"] else None,
            )
            state["ref"], state["name"], sha = done.ref, done.name, done.sha
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
        """True when the pipeline's inputs differ from commit ``sha`` (a modified checkpoint experiment):
        a stage's definition (command, deps, params, outs, templated values), a dep's files, a declared
        param's value or a ``.dvc`` file. The stages' own outputs do not count (after Ctrl-C they hold
        what training left, which a resumed run writes over), nor files no stage reads (logs, scratch)."""
        parsing = self.pipeline.config.get("parsing")
        try:
            now = pipeline_inputs(WorkspaceTree(self.root), self.git.workspace_files(), parsing)
            then = pipeline_inputs(self.git.tree(sha), self.git.flatten(sha), parsing)
        except JupyterExpError:  # a pipeline that does not load on one side differs
            return True
        return now != then

    def _workspace_differs(self, sha: str) -> bool:
        """True when the files on disk are not exactly those of commit ``sha``."""
        try:
            return self.git.workspace_files() != self.git.flatten(sha)
        except SCMError:
            return True


def pipeline_inputs(tree: TreeReader, files: Mapping[str, FileEntry], parsing: Any) -> dict[str, Any]:
    """What the pipeline in ``tree`` (whose Git-visible files are ``files``) reads: resolved stage
    definitions, ``.dvc`` files, the files of deps no stage produces, declared params values."""
    inputs: dict[str, Any] = {}
    stages: list[Stage] = []
    for path in sorted(files):
        if posixpath.basename(path) == "dvc.yaml":
            resolved = resolve(tree, path, parsing=parsing)
            inputs[path] = resolved.stages
            stages += [build_stage(name, definition, path) for name, definition in resolved.stages.items()]
        elif path.endswith(".dvc"):
            inputs[path] = files[path]
    produced = {out.path for stage in stages for out in stage.outs}

    def under(path: str, folder: str) -> bool:
        return path == folder or path.startswith(folder + "/")

    for stage in stages:
        for dep in stage.deps:
            if not any(under(dep.path, out) for out in produced):
                inputs[f"deps:{dep.path}"] = {p: entry for p, entry in files.items() if under(p, dep.path)}
        for params in stage.params:
            data = serialize.load_from(tree, params.path) if tree.exists(params.path) else None
            values = [serialize.get_path(data, key, None) for key in params.keys] if data and params.keys else data
            inputs[f"params:{params.path}:{','.join(params.keys)}"] = values
    return inputs
