"""The pipeline engine: collect and select stages, reproduce what changed (status in ``status.py``).

A stage is re-run when its command, a dep's hash, a declared param value or an output changed. Dep hashes
and params are read *before* the command runs, so editing a script mid-run cannot tie the outputs to code
that did not produce them. Each stage's lock entry is written (atomically) only after it succeeded, so an
interrupted or failed run leaves every earlier stage saved and the failing one untouched.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from jupyter_exp import serialize
from jupyter_exp.config import load_config
from jupyter_exp.data.cache import Cache
from jupyter_exp.data.hashing import Hasher
from jupyter_exp.errors import ReproductionError, StageNotFoundError
from jupyter_exp.fsutil import WorkspaceTree, remove_dead_tmps
from jupyter_exp.pipeline import imports
from jupyter_exp.pipeline.dag import Graph
from jupyter_exp.pipeline.outputs import Outputs, ProgressFactory
from jupyter_exp.pipeline.paths import check_on_disk
from jupyter_exp.pipeline.process import command_env, run_command
from jupyter_exp.pipeline.runcache import RunCache
from jupyter_exp.pipeline.rwlock import writer
from jupyter_exp.pipeline.stage import Stage, build_data_stage, build_stage
from jupyter_exp.pipeline.status import StageChanges, StatusChecker
from jupyter_exp.pipeline.templating import ResolvedPipeline, resolve

_SKIP_DIRS = {".git", ".dvc", "node_modules", "__pycache__", ".ipynb_checkpoints", ".venv", "venv"}

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


class Pipeline:
    """All stages of a repository: the ``dvc.yaml`` files and the ``.dvc`` data files under ``root``.

    It collects and selects stages and reproduces them; what changed is ``status.py``'s, running a
    command ``process.py``'s, caching and recording outputs ``outputs.py``'s.
    """

    def __init__(
        self, root: str | os.PathLike[str], *, log: Log | None = None, progress: ProgressFactory | None = None
    ) -> None:
        self.root = Path(root).resolve()
        self.log = log or _quiet
        self.config = load_config(self.root)
        self.hasher = Hasher(self.root)
        cache_config = self.config["cache"]
        self.cache = Cache(
            self.root,
            cache_dir=cache_config.get("dir"),
            link_types=cache_config.get("type") or ("copy",),
            hasher=self.hasher,
        )
        # Uncached outputs (metrics with `cache: false`) are kept for the run cache as copies, as DVC
        # does: linking would make the user's workspace file a read-only cache object.
        self.copy_cache = Cache(self.root, cache_dir=cache_config.get("dir"), hasher=self.hasher)
        self.run_cache = RunCache(self.cache.cache_dir / "runs")
        self.checker = StatusChecker(self.root, self.hasher, self.cache)
        self.outputs = Outputs(self.root, self.hasher, self.cache, self.copy_cache, self.checker, progress)

    # -- collection ---------------------------------------------------------------------------------

    def dvcfiles(self) -> list[str]:
        """``dvc.yaml`` and ``.dvc`` files, root first, relative POSIX paths. A folder tracked by a
        ``.dvc`` file beside it is not entered: it holds data (maybe a million files), not stages."""
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(
                d
                for d in dirnames
                if d not in _SKIP_DIRS
                and d + ".dvc" not in filenames
                and not os.path.exists(os.path.join(dirpath, d, "pyvenv.cfg"))
            )
            rel = os.path.relpath(dirpath, self.root)
            rel = "" if rel == "." else Path(rel).as_posix()
            for name in sorted(filenames):
                if name == "dvc.yaml" or (name.endswith(".dvc") and name != ".dvc"):
                    found.append(posixpath.join(rel, name) if rel else name)
        return sorted(found, key=lambda p: (p.count("/"), p != "dvc.yaml", p))

    def resolved(self) -> dict[str, ResolvedPipeline]:
        tree = WorkspaceTree(self.root)
        return {
            path: resolve(tree, path, parsing=self.config.get("parsing"))
            for path in self.dvcfiles()
            if path.endswith("dvc.yaml")
        }

    def stages(self) -> dict[str, Stage]:
        """Every stage by the name users type (``train``, ``build@us``, ``sub/dvc.yaml:train``, ``data.dvc``)."""
        stages: dict[str, Stage] = {}
        tree = WorkspaceTree(self.root)
        for path in self.dvcfiles():
            if path.endswith("dvc.yaml"):
                pipeline = resolve(tree, path, parsing=self.config.get("parsing"))
                for name, definition in pipeline.stages.items():
                    stage = build_stage(name, definition, path)
                    stages[stage.addressing] = stage
            else:
                stage = build_data_stage(path, serialize.load_from(tree, path))
                stages[stage.addressing] = stage
        check_on_disk(self.root, stages.values())
        return stages

    def graph(self) -> Graph:
        return Graph(self.stages().values())

    def select(self, graph: Graph, targets: Iterable[str] | None, *, recursive: bool = False) -> list[str]:
        """Stage names matching ``targets``: ``build@us``, ``build`` (all of a foreach), ``dir/dvc.yaml[:stage]``,
        a ``.dvc`` file, or with ``recursive`` a directory."""
        if not targets:
            return list(graph.stages)
        chosen: list[str] = []
        for target in targets:
            matches = self._match(graph, target, recursive)
            if not matches:
                raise StageNotFoundError(f"'{target}' does not name a stage in {self._dvcfile_names()}")
            chosen.extend(m for m in matches if m not in chosen)
        return chosen

    def _dvcfile_names(self) -> str:
        files = [f for f in self.dvcfiles() if f.endswith("dvc.yaml")]
        return ", ".join(f"'{f}'" for f in files) or "this repository (no dvc.yaml found)"

    @staticmethod
    def _match(graph: Graph, target: str, recursive: bool) -> list[str]:
        """Stages a target names: a stage (``train``, ``build@us``, ``sub/dvc.yaml:train``, ``data.csv.dvc``),
        a foreach/matrix group (``build``), a ``dvc.yaml`` (all its stages), or with ``recursive`` a
        directory (every stage below it)."""
        target = target.rstrip("/")
        stages = graph.stages
        if target in stages:
            return [target]
        if target.endswith("dvc.yaml"):
            return [n for n, s in stages.items() if s.dvcfile == posixpath.normpath(target)]
        dvcfile, _, name = target.rpartition(":")
        dvcfile = posixpath.normpath(dvcfile) if dvcfile else "dvc.yaml"
        group = "@" not in name  # `build` names every `build@...` stage
        found = [
            n
            for n, s in stages.items()
            if s.dvcfile == dvcfile and (s.name == name or (group and s.name.split("@", 1)[0] == name))
        ]
        if not found and recursive:
            prefix = "" if target in ("", ".") else target + "/"
            found = [n for n, s in stages.items() if s.dvcfile.startswith(prefix)]
        return found

    def live_directories(self, targets: Iterable[str] | None = None) -> list[Path]:
        """Folders where the stages ``repro targets`` would run log live metrics: each ``live:`` section's
        folder, or a folder declared as plots (what a front end tails to draw live plots)."""
        graph = self.graph()
        found: list[Path] = []
        for name in graph.ordered(graph.closure(self.select(graph, targets))):
            stage = graph.stages[name]
            candidates = [self.root / stage.wdir / directory for directory in stage.live]
            candidates += [
                self.root / out.path
                for out in stage.outs
                if out.kind == "plots" and not Path(out.path).suffix
            ]
            found.extend(path for path in candidates if path not in found)
        return found

    # -- status -------------------------------------------------------------------------------------

    def status(
        self, targets: Iterable[str] | None = None, *, recursive: bool = False
    ) -> dict[str, list[Any]]:
        """``{stage: [why, ...]}`` for every stage out of date, as ``dvc status --json``; ``{}`` when clean."""
        graph = self.graph()
        wanted = graph.closure(self.select(graph, targets, recursive=recursive))
        result: dict[str, list[Any]] = {}
        for name in (n for n in graph.stages if n in wanted):  # declaration order, as `dvc status`
            stage = graph.stages[name]
            changed = self.checker.changes(stage)
            if stage.import_source is not None:
                changed.deps.update(imports.source_status(self, stage))
            if changed:
                result[name] = changed.as_status()
        return result

    # -- reproduction -------------------------------------------------------------------------------

    @writer("repro")
    def reproduce(
        self,
        targets: Iterable[str] | None = None,
        *,
        force: bool = False,
        single_item: bool = False,
        downstream: bool = False,
        recursive: bool = False,
        dry: bool = False,
        run_cache: bool = True,
        reset_checkpoints: bool = False,
        resume_checkpoints: bool = False,
        on_checkpoint: Callable[[str], None] | None = None,
        on_output: Callable[[str], None] | None = None,
        env: dict[str, str] | None = None,
        stop: threading.Event | None = None,
    ) -> list[str]:
        """Run the stages that changed, in topological order; return the names of those that ran.

        Setting ``stop`` (from another thread: a notebook's background run) acts like Ctrl-C: the running
        command gets SIGINT, no further stage starts, and ``KeyboardInterrupt`` is raised here.

        ``resume_checkpoints`` runs checkpoint stages even when unchanged: training continues from the
        checkpoint outputs in the workspace (``exp run`` on an existing checkpoint experiment).
        """
        graph = self.graph()
        selected = self.select(graph, targets, recursive=recursive)
        if single_item:
            names = graph.ordered(selected)
        else:
            names = graph.ordered(graph.closure(selected, downstream=downstream))
        forced = set(names) if force else set()  # DVC 3: -f runs every stage of the plan
        for lockfile in {graph.stages[name].lockfile for name in names}:
            # A run killed while rewriting dvc.lock leaves its temp file; when this run writes no new lock
            # (nothing changed), nothing else would remove it from the user's folder.
            remove_dead_tmps(Path(self.root) / lockfile)
        ran: list[str] = []
        for name in names:
            if stop is not None and stop.is_set():
                raise KeyboardInterrupt
            stage = graph.stages[name]
            if stage.is_data_source:
                self._verify_data_source(stage, dry=dry)
                continue
            if stage.frozen:
                self._verify_frozen(stage, dry=dry)
                continue
            changes = self.checker.changes(stage)
            rerun_checkpoints = (reset_checkpoints or resume_checkpoints) and bool(stage.checkpoint_outs)
            if not changes and name not in forced and not rerun_checkpoints:
                self.log(f"Stage '{name}' didn't change, skipping")
                if changes.relock and not dry:
                    self._relock_deps(stage)
                continue
            if dry:
                self.log(f"Running stage '{name}':")
                for cmd in stage.cmd:
                    self.log(f"> {cmd}")
                ran.append(name)
                continue
            if stage.checkpoint_outs:
                self._drop_stale_downstream(graph, name)
                if resume_checkpoints:
                    # A run killed between checkpoints can leave a half-written model: training resumes
                    # from what the last checkpoint recorded, not from that.
                    for path in self.outputs.checkout(stage, force=True, checkpoints_only=True):
                        self.log(f"Restored '{path}' as the last checkpoint recorded it")
            self._run_stage(
                stage,
                run_cache=run_cache and name not in forced and not stage.always_changed,
                reset_checkpoints=reset_checkpoints,
                on_checkpoint=on_checkpoint,
                on_output=on_output,
                env=env,
                stop=stop,
            )
            ran.append(name)
        return ran

    def _verify_frozen(self, stage: Stage, *, dry: bool) -> None:
        """A frozen stage never runs. As in DVC, its outputs must exist; changed ones are recorded in
        ``dvc.lock`` as they are (a commit)."""
        if not self.checker.changes(stage):
            self.log(f"Stage '{stage.addressing}' is frozen, skipping")
            return
        self.log(f"Verifying outputs in frozen stage: '{stage.addressing}'")
        missing = [out.def_path for out in stage.outs if not os.path.lexists(self.root / out.path)]
        if missing:
            raise ReproductionError(
                f"frozen stage {stage}: missing output "
                + ", ".join(f"'{m}'" for m in missing)
                + " (unfreeze the stage to run it)"
            )
        if not dry:
            self.commit([stage.addressing])

    def _verify_data_source(self, stage: Stage, *, dry: bool) -> None:
        changes = self.checker.changes(stage)
        if not changes:
            self.log(f"'{stage.dvcfile}' didn't change, skipping")
            return
        if stage.frozen:
            self._warn_frozen_data(stage, changes)
            return
        self.log(f"Verifying data sources in stage: '{stage.dvcfile}'")
        if not dry:
            self.add([str(self.root / out.path) for out in stage.outs])

    def _warn_frozen_data(self, stage: Stage, changes: StageChanges) -> None:
        """A frozen ``.dvc`` file (an import) is never rewritten by repro or commit: it records where the
        data came from, which hashing the workspace's copy would lose. DVC records the workspace's hashes
        here; we say what differs and leave the file as it is."""
        self.log(f"Verifying outputs in frozen stage: '{stage.dvcfile}'")
        for path, how in changes.outs.items():
            self.log(
                f"WARNING: '{path}' {how}: the frozen '{stage.dvcfile}' is left as it is "
                f"(`update {stage.dvcfile}` imports the data again)"
            )

    def _relock_deps(self, stage: Stage) -> None:
        """Record the deps' current md5s (notebooks saved with new outputs only), as ``dvc commit`` would,
        so the real ``dvc status`` agrees the stage is up to date."""
        entry = dict(self.checker.locked(stage) or {})
        entry["deps"] = self.outputs.dep_entries(stage)
        self.outputs.write_lock(stage, entry)

    def _drop_stale_downstream(self, graph: Graph, name: str) -> None:
        """Remove the outputs of the stages after a checkpoint stage before it trains.

        Every checkpoint commits the workspace; the downstream outputs (an evaluation's metrics, say) are
        those of the previous run until their stages run again, and would otherwise be recorded as if they
        described each checkpoint. Their stages rerun after training, as their deps changed.
        """
        for downstream in graph.closure([name], downstream=True) - {name}:
            for out in graph.stages[downstream].outs:
                if not out.persist:
                    _remove(self.root / out.path)

    def _remove_outputs(self, stage: Stage, *, reset_checkpoints: bool) -> bool:
        """Delete outputs before a run (DVC does); returns True when checkpoint state is kept (a resume)."""
        keep_checkpoints = bool(stage.checkpoint_outs) and not reset_checkpoints
        resumed = keep_checkpoints and any(os.path.lexists(self.root / o.path) for o in stage.checkpoint_outs)
        in_git = _git_tracked(self.root, [o.path for o in stage.outs if not o.cache])
        for out in stage.outs:
            if out.persist or (keep_checkpoints and (out.checkpoint or out.kind != "outs")):
                _unprotect(self.root / out.path)  # the command writes on top of it
                continue
            if out.path in in_git:  # the command rewrites it; deleted first, an interrupted run would lose it
                continue
            _remove(self.root / out.path)
        return resumed

    def _run_stage(
        self,
        stage: Stage,
        *,
        run_cache: bool,
        reset_checkpoints: bool,
        on_checkpoint: Callable[[str], None] | None,
        on_output: Callable[[str], None] | None,
        env: dict[str, str] | None,
        stop: threading.Event | None,
    ) -> None:
        deps = self.outputs.dep_entries(stage)
        params = self.checker.params_values(stage, strict=True)
        entry_without_outs = self.outputs.lock_entry(stage, deps, params, [])
        if run_cache and _run_cacheable(stage):
            cached = self.run_cache.lookup(entry_without_outs)
            if cached is not None and self.outputs.restore(stage, cached):
                self.log(f"Stage '{stage.addressing}' is cached - skipping run, checking out outputs")
                self.outputs.write_lock(stage, cached)
                return
        self.log(f"Running stage '{stage.addressing}':")
        resumed = self._remove_outputs(stage, reset_checkpoints=reset_checkpoints)
        stage_env = command_env(self.root, stage, env, resumed)
        cwd = self.root / stage.wdir

        def checkpoint() -> None:
            outs = self.outputs.out_entries(stage, missing_ok=True)
            self.outputs.write_lock(stage, self.outputs.lock_entry(stage, deps, params, outs))
            if on_checkpoint is not None:
                on_checkpoint(stage.addressing)

        for cmd in stage.cmd:
            self.log(f"> {cmd}")
            code = run_command(
                cmd,
                cwd,
                stage_env,
                root=self.root,
                on_output=on_output,
                on_checkpoint=checkpoint if stage.checkpoint_outs else None,
                stop=stop,
            )
            if code != 0:
                raise ReproductionError(
                    f"failed to reproduce {stage}: command '{cmd}' exited with status {code}"
                )
        entry = self.outputs.lock_entry(stage, deps, params, self.outputs.out_entries(stage))
        self.outputs.write_lock(stage, entry)
        if _run_cacheable(stage):
            for out in stage.outs:
                if not out.cache:
                    self.copy_cache.save(out.path)
            self.run_cache.save(entry_without_outs, entry)

    # -- data sources, checkout, commit -------------------------------------------------------------

    @writer("add")
    def add(self, paths: Iterable[str]) -> list[str]:
        """Track data with a ``PATH.dvc`` file (DVC 3 layout), cache it and git-ignore it."""
        return self.outputs.add(paths, self.stages().values())

    @writer("checkout")
    def checkout(self, targets: Iterable[str] | None = None, *, force: bool = False) -> list[str]:
        """Bring cached outputs back into the workspace to match ``dvc.lock`` and ``.dvc`` files."""
        graph = self.graph()
        restored = []
        for name in graph.ordered(self.select(graph, targets)):
            restored += self.outputs.checkout(graph.stages[name], force=force)
        return restored

    @writer("commit")
    def commit(self, targets: Iterable[str] | None = None) -> list[str]:
        """Record the workspace's current deps and outputs in ``dvc.lock`` without running anything."""
        graph = self.graph()
        committed = []
        for name in graph.ordered(self.select(graph, targets)):
            stage = graph.stages[name]
            changes = self.checker.changes(stage)
            if not changes:
                continue
            if stage.is_data_source and stage.frozen:
                self._warn_frozen_data(stage, changes)
                continue
            self.outputs.commit(stage, graph.stages.values())
            committed.append(name)
        return committed

    def used_objects(self) -> set[str]:
        """md5s of every output the workspace's lock and ``.dvc`` files reference (with dir contents)."""
        return self.outputs.used_objects(self.stages().values())


def _run_cacheable(stage: Stage) -> bool:
    """DVC's rule: only stages with deps (or params) and outputs, none persistent or checkpoint, that
    are not always changed; others depend on more than their inputs."""
    if stage.always_changed or not (stage.deps or stage.params) or not stage.outs:
        return False
    return not any(out.persist or out.checkpoint for out in stage.outs)


def _git_tracked(root: Path, paths: list[str]) -> set[str]:
    """Which uncached outputs Git tracks (a metrics file committed with the code); none without Git."""
    existing = [path for path in paths if os.path.isfile(root / path)]
    if not existing:
        return set()
    from jupyter_exp.errors import NotARepoError
    from jupyter_exp.scm.git import Git

    try:
        return Git(root).tracked(existing)
    except NotARepoError:
        return set()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def _unprotect(path: Path) -> None:
    """Replace links into the cache (a checkout with hardlink/symlink types) and read-only cache copies
    under ``path`` by private writable copies, so a command continuing from them cannot write into the cache."""
    files = [path] if not path.is_dir() or path.is_symlink() else [p for p in path.rglob("*") if p.is_file()]
    for file in files:
        try:
            st = os.lstat(file)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode) or st.st_nlink > 1 or not st.st_mode & stat.S_IWUSR:
            tmp = file.with_name(f".{file.name}.{os.getpid()}.unprotect.tmp")
            shutil.copyfile(file, tmp)  # follows a symlink to the cached content
            os.replace(tmp, file)
