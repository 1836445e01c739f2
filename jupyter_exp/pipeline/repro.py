"""The pipeline engine: collect stages, compute status against ``dvc.lock``, reproduce what changed.

A stage is re-run when its command, a dep's hash, a declared param value or an output changed. Dep hashes
and params are read *before* the command runs, so editing a script mid-run cannot tie the outputs to code
that did not produce them. Each stage's lock entry is written (atomically) only after it succeeded, so an
interrupted or failed run leaves every earlier stage saved and the failing one untouched.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from jupyter_exp import serialize
from jupyter_exp.config import load_config
from jupyter_exp.data.cache import Cache
from jupyter_exp.data.hashing import Hasher, HashInfo, Progress
from jupyter_exp.errors import (
    JupyterExpError,
    ReproductionError,
    StageNotFoundError,
    YAMLFileError,
)
from jupyter_exp.fsutil import WorkspaceTree, atomic_write_text
from jupyter_exp.pipeline import imports, notebook
from jupyter_exp.pipeline import lock as lockfile
from jupyter_exp.pipeline.dag import Graph
from jupyter_exp.pipeline.paths import check_stage_on_disk
from jupyter_exp.pipeline.runcache import RunCache
from jupyter_exp.pipeline.stage import Output, Stage, build_data_stage, build_stage
from jupyter_exp.pipeline.templating import ResolvedPipeline, resolve

CHECKPOINT_SIGNAL = "DVC_CHECKPOINT"
_SKIP_DIRS = {".git", ".dvc", "node_modules", "__pycache__", ".ipynb_checkpoints", ".venv", "venv"}
_ABSENT = object()  # a params key that is not in its file (None is a value: `key: null`)

Log = Callable[[str], None]
#: Given what is being done ("Hashing data"), returns a ``(done, total)`` callback a front end draws as a bar.
ProgressFactory = Callable[[str], Progress]


def _quiet(_: str) -> None:
    pass


@dataclass
class StageChanges:
    """Why a stage is out of date, in ``dvc status`` vocabulary."""

    deps: dict[str, Any]
    outs: dict[str, str]
    command: bool = False
    always: bool = False
    checksum: bool = False  # an import's `.dvc` file was edited by hand (its top-level md5 no longer matches)
    relock: bool = False  # a notebook dep's file changed but not its code: only dvc.lock needs its new md5

    def __bool__(self) -> bool:
        return bool(self.deps or self.outs or self.command or self.always or self.checksum)

    def as_status(self) -> list[Any]:
        entries: list[Any] = []
        if self.deps:
            entries.append({"changed deps": self.deps})
        if self.outs:
            entries.append({"changed outs": self.outs})
        if self.command:
            entries.append("changed command")
        if self.always:
            entries.append("always changed")
        if self.checksum:
            entries.append("changed checksum")
        return entries


def _cmd_for_lock(stage: Stage) -> str | list[str]:
    return stage.cmd[0] if len(stage.cmd) == 1 else list(stage.cmd)


class Pipeline:
    """All stages of a repository: the ``dvc.yaml`` files and the ``.dvc`` data files under ``root``."""

    def __init__(
        self, root: str | os.PathLike[str], *, log: Log | None = None, progress: ProgressFactory | None = None
    ) -> None:
        self.root = Path(root).resolve()
        self.log = log or _quiet
        self.progress = progress
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

    # -- collection ---------------------------------------------------------------------------------

    def dvcfiles(self) -> list[str]:
        """``dvc.yaml`` and ``.dvc`` files, root first, relative POSIX paths."""
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(
                d
                for d in dirnames
                if d not in _SKIP_DIRS and not os.path.exists(os.path.join(dirpath, d, "pyvenv.cfg"))
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
        for stage in stages.values():
            check_stage_on_disk(self.root, stage)
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

    def _lock(self, stage: Stage) -> dict[str, Any] | None:
        if stage.is_data_source:
            return None
        return lockfile.load(self.root / stage.lockfile, stage.lockfile).get(stage.name)

    def params_values(self, stage: Stage, *, strict: bool) -> dict[str, dict[str, Any]]:
        """Current values of the stage's declared params, in ``dvc.lock`` layout."""
        values: dict[str, dict[str, Any]] = {}
        for dep in stage.params:
            file = self.root / dep.path
            if not file.exists():
                if strict:
                    raise YAMLFileError(f"params file '{dep.path}' of stage {stage} does not exist")
                continue
            data = serialize.load_file(file, name=dep.path)
            if not dep.keys:
                values[dep.def_path] = data
                continue
            found = {}
            for key in dep.keys:
                value = serialize.get_path(data, key, _ABSENT)
                if value is _ABSENT:
                    if strict:
                        raise YAMLFileError(
                            f"parameter '{key}' of stage {stage} is missing from '{dep.path}'"
                        )
                    continue
                found[key] = value
            values[dep.def_path] = dict(sorted(found.items()))
        return dict(sorted(values.items()))

    def _hash(self, path: str) -> HashInfo | None:
        full = self.root / path
        if not os.path.lexists(full):
            return None
        return self.hasher.hash(full)

    def _notebook_code(self, path: str) -> str | None:
        """The code hash of notebook ``path`` (memoised by file md5 in the state db), None if not one."""
        full = self.root / path
        if not notebook.is_notebook(path) or not full.is_file():
            return None
        md5 = self.hasher.hash(full).md5
        code = self.hasher.state.get_notebook_code(md5)
        if code is None:
            code = notebook.code_digest(full.read_bytes())
            if code is not None:
                self.hasher.state.put_notebook_code(md5, code)
        return code

    def _same_code(self, path: str, locked_md5: str | None) -> bool:
        """True when ``path`` is a notebook whose code is that of the version ``dvc.lock`` recorded."""
        if not locked_md5 or not notebook.is_notebook(path):
            return False
        locked = self.hasher.state.get_notebook_code(locked_md5)
        return locked is not None and locked == self._notebook_code(path)

    def _hash_changes(self, recorded: Iterable[tuple[str, str | None, bool]]) -> dict[str, str]:
        """``{path: "not in cache" | "deleted" | "modified"}`` for each (path, recorded md5, cached) that the
        cache or the workspace no longer matches; as in DVC, a cached output missing from the cache
        reads "not in cache" first, whatever the workspace holds."""
        changed = {}
        for path, md5, cached in recorded:
            if cached and md5 and not self._in_cache(md5):
                changed[path] = "not in cache"
                continue
            current = self._hash(path)
            if current is None:
                changed[path] = "deleted"
            elif current.md5 != md5:
                changed[path] = "modified"
        return changed

    def _in_cache(self, md5: str) -> bool:
        try:
            return self.cache.exists(HashInfo(md5=md5, size=0))
        except JupyterExpError:  # a bad md5 or a broken manifest: not something the cache holds
            return False

    def changes(self, stage: Stage) -> StageChanges:
        """Compare the workspace with the stage's lock entry (or ``.dvc`` file).

        Paths are relative to the repository root, as ``dvc status`` run there shows them (a stage in
        ``sub/dvc.yaml`` reports ``sub/out.txt``, not its lock's ``out.txt``).
        """
        if stage.is_data_source:
            outs = self._hash_changes((out.path, out.options.get("md5"), out.cache) for out in stage.outs)
            return StageChanges(deps={}, outs=outs, checksum=imports.changed_checksum(stage))
        entry = self._lock(stage) or {}
        # DVC 3: a stage with neither deps nor outs runs every time (a "callback" stage).
        callback = not (stage.deps or stage.params or stage.outs)
        changes = StageChanges(deps={}, outs={}, always=stage.always_changed or callback)
        if entry and entry.get("cmd") != _cmd_for_lock(stage):
            changes.command = True
        if not stage.frozen:  # a frozen stage's deps are not checked, its outputs still are
            self._dep_changes(stage, entry, changes)
        locked_outs = {o.get("path"): o.get("md5") for o in entry.get("outs") or []}
        changes.outs = self._hash_changes(
            (out.path, locked_outs.get(out.def_path), out.cache) for out in stage.outs
        )
        return changes

    def _dep_changes(self, stage: Stage, entry: dict[str, Any], changes: StageChanges) -> None:
        """Deps and params against the lock entry, worded as ``dvc status``: with no entry, present
        deps read as "modified" and params files as "new". Deps or params removed from the
        definition count as a changed command, so the lock is rewritten to match it."""
        locked_deps = {d.get("path"): d.get("md5") for d in entry.get("deps") or []}
        changes.deps.update(
            self._hash_changes((dep.path, locked_deps.get(dep.def_path), False) for dep in stage.deps)
        )
        for dep in stage.deps:
            locked = locked_deps.get(dep.def_path)
            if changes.deps.get(dep.path) == "modified" and self._same_code(dep.path, locked):
                del changes.deps[dep.path]
                changes.relock = True
        locked_params = entry.get("params") or {}
        undeclared = set(locked_deps) - {d.def_path for d in stage.deps}
        undeclared |= set(locked_params) - {p.def_path for p in stage.params}
        current_params = self.params_values(stage, strict=False)
        for dep in stage.params:
            if dep.def_path not in current_params:
                changes.deps[dep.path] = "deleted"
                continue
            if dep.def_path not in locked_params:
                changes.deps[dep.path] = "new"
                continue
            values, old = current_params[dep.def_path], locked_params[dep.def_path] or {}
            declared = set(dep.keys) if dep.keys else set(values) | set(old)
            undeclared |= set(old) - declared
            diff = {}
            for key in sorted(declared):
                if key not in values:
                    diff[key] = "deleted"
                elif key not in old:
                    diff[key] = "new"
                elif values[key] != old[key]:
                    diff[key] = "modified"
            if diff:
                changes.deps[dep.path] = diff
        if entry and undeclared:
            changes.command = True

    def status(
        self, targets: Iterable[str] | None = None, *, recursive: bool = False
    ) -> dict[str, list[Any]]:
        """``{stage: [why, ...]}`` for every stage out of date, as ``dvc status --json``; ``{}`` when clean."""
        graph = self.graph()
        wanted = graph.closure(self.select(graph, targets, recursive=recursive))
        result: dict[str, list[Any]] = {}
        for name in (n for n in graph.stages if n in wanted):  # declaration order, as `dvc status`
            stage = graph.stages[name]
            changed = self.changes(stage)
            if stage.import_source is not None:
                changed.deps.update(imports.source_status(self, stage))
            if changed:
                result[name] = changed.as_status()
        return result

    # -- reproduction -------------------------------------------------------------------------------

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
            changes = self.changes(stage)
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
        if not self.changes(stage):
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
        changes = self.changes(stage)
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
                f"WARNING: '{path}' is {how} but '{stage.dvcfile}' is frozen, so it is left as it is: "
                f"`update {stage.dvcfile}` imports the data again"
            )

    def _dep_entries(self, stage: Stage) -> list[dict[str, Any]]:
        entries = []
        for dep in sorted(stage.deps, key=lambda d: d.def_path):
            info = self._hash(dep.path)
            if info is None:
                raise ReproductionError(f"dependency '{dep.def_path}' of stage {stage} does not exist")
            entries.append(info.to_lock_entry(dep.def_path))
            self._notebook_code(dep.path)  # remembered: a later outputs-only save is then recognised
        return entries

    def _relock_deps(self, stage: Stage) -> None:
        """Record the deps' current md5s (notebooks saved with new outputs only), as ``dvc commit`` would,
        so the real ``dvc status`` agrees the stage is up to date."""
        entry = dict(self._lock(stage) or {})
        entry["deps"] = self._dep_entries(stage)
        self._write_lock(stage, entry)

    def _out_entries(self, stage: Stage, *, missing_ok: bool = False) -> list[dict[str, Any]]:
        entries = []
        for out in sorted(stage.outs, key=lambda o: o.def_path):
            full = self.root / out.path
            if not os.path.lexists(full):
                if missing_ok:
                    continue
                raise ReproductionError(
                    f"output '{out.def_path}' of stage {stage} was not created by its command"
                )
            # Checkpoint outputs are copied into the cache, never linked: training rewrites them in
            # place, which through a hardlink or symlink would overwrite the previous checkpoint's object.
            cache = self.copy_cache if out.checkpoint else self.cache
            if not out.cache:
                info = self._hash_with_progress(out.path)
            elif out.checkpoint and full.is_file():  # a new model each checkpoint: one read to hash+copy
                info = cache.ingest(out.path, self._bar(f"Caching {out.path}"))
            else:
                info = self._save(cache, out.path)
            entries.append(info.to_lock_entry(out.def_path))
        return entries

    def _bar(self, what: str) -> Progress | None:
        return self.progress(what) if self.progress is not None else None

    def _hash_with_progress(self, path: str) -> HashInfo:
        return self.hasher.hash(self.root / path, self._bar(f"Hashing {path}"))

    def _save(self, cache: Cache, path: str) -> HashInfo:
        """Hash then cache an output, each with a progress bar where the front end draws them."""
        info = self._hash_with_progress(path)
        return cache.save(self.root / path, info, progress=self._bar(f"Caching {path}"))

    def _lock_entry(
        self, stage: Stage, deps: list[dict[str, Any]], params: dict[str, Any], outs: list[dict[str, Any]]
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {"cmd": _cmd_for_lock(stage)}
        if deps:
            entry["deps"] = deps
        if params:
            entry["params"] = params
        if outs:
            entry["outs"] = outs
        return entry

    def _stage_env(self, stage: Stage, extra: dict[str, str] | None, resume: bool) -> dict[str, str]:
        env = dict(os.environ)
        # `python` in a stage means the interpreter running us (a notebook kernel's may not be on PATH).
        env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
        env["DVC_ROOT"] = str(self.root)
        env["DVC_STAGE"] = stage.name
        if stage.live:
            directory, options = next(iter(stage.live.items()))
            options = options or {}
            env["DVCLIVE_PATH"] = str(self.root / stage.wdir / directory)
            env["DVCLIVE_SUMMARY"] = str(bool(options.get("summary", True))).lower()
            env["DVCLIVE_HTML"] = str(bool(options.get("html", options.get("report", True)))).lower()
            env["DVCLIVE_RESUME"] = str(resume).lower()
        if stage.checkpoint_outs:
            env["DVC_CHECKPOINT"] = "1"
            env["DVC_CHECKPOINT_PARENT_PID"] = str(os.getpid())
        if extra:
            env.update(extra)
        return env

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
        for out in stage.outs:
            if out.persist or (keep_checkpoints and (out.checkpoint or out.kind != "outs")):
                _unprotect(self.root / out.path)  # the command writes on top of it
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
        deps = self._dep_entries(stage)
        params = self.params_values(stage, strict=True)
        entry_without_outs = self._lock_entry(stage, deps, params, [])
        if run_cache and _run_cacheable(stage):
            cached = self.run_cache.lookup(entry_without_outs)
            if cached is not None and self._restore_from_run_cache(stage, cached):
                self.log(f"Stage '{stage.addressing}' is cached - skipping run, checking out outputs")
                self._write_lock(stage, cached)
                return
        self.log(f"Running stage '{stage.addressing}':")
        resumed = self._remove_outputs(stage, reset_checkpoints=reset_checkpoints)
        stage_env = self._stage_env(stage, env, resumed)
        cwd = self.root / stage.wdir

        def checkpoint() -> None:
            outs = self._out_entries(stage, missing_ok=True)
            self._write_lock(stage, self._lock_entry(stage, deps, params, outs))
            if on_checkpoint is not None:
                on_checkpoint(stage.addressing)

        for cmd in stage.cmd:
            self.log(f"> {cmd}")
            code = self._run_command(
                cmd, cwd, stage_env, on_output, checkpoint if stage.checkpoint_outs else None, stop
            )
            if code != 0:
                raise ReproductionError(
                    f"failed to reproduce {stage}: command '{cmd}' exited with status {code}"
                )
        entry = self._lock_entry(stage, deps, params, self._out_entries(stage))
        self._write_lock(stage, entry)
        if _run_cacheable(stage):
            for out in stage.outs:
                if not out.cache:
                    self.copy_cache.save(out.path)
            self.run_cache.save(entry_without_outs, entry)

    def _restore_from_run_cache(self, stage: Stage, entry: dict[str, Any]) -> bool:
        outs = {o["path"]: o for o in entry.get("outs") or []}
        infos = []
        for out in stage.outs:
            recorded = outs.get(out.def_path)
            if recorded is None:
                return False
            info = HashInfo.from_lock_entry(recorded)
            if not self.cache.exists(info):
                return False
            infos.append((out, info))
        for out, info in infos:
            (self.cache if out.cache else self.copy_cache).checkout(out.path, info, force=True)
        return True

    def _write_lock(self, stage: Stage, entry: dict[str, Any]) -> None:
        lockfile.update(self.root / stage.lockfile, {stage.name: entry})
        self._gitignore_outputs(stage.outs)

    def _run_command(
        self,
        cmd: str,
        cwd: Path,
        env: dict[str, str],
        on_output: Callable[[str], None] | None,
        on_checkpoint: Callable[[], None] | None,
        stop: threading.Event | None = None,
    ) -> int:
        """Run one shell command, streaming its output; serve checkpoint signals while it runs."""
        signal_file = self.root / ".dvc" / "tmp" / CHECKPOINT_SIGNAL
        if on_checkpoint is not None:
            signal_file.parent.mkdir(parents=True, exist_ok=True)
            signal_file.unlink(missing_ok=True)
        pipe = subprocess.PIPE if on_output is not None else None
        stop = stop or threading.Event()
        with _ctrl_c_sets(stop):
            # Its own session, so an interrupt reaches the whole command (the shell and what it started),
            # not only the shell: see _interrupt.
            proc = subprocess.Popen(
                cmd,
                shell=True,
                cwd=cwd,
                env=env,
                stdout=pipe,
                stderr=subprocess.STDOUT if pipe else None,
                start_new_session=True,
            )
            return self._supervise(proc, on_output, on_checkpoint, signal_file, stop)

    def _supervise(
        self,
        proc: subprocess.Popen[bytes],
        on_output: Callable[[str], None] | None,
        on_checkpoint: Callable[[], None] | None,
        signal_file: Path,
        stop: threading.Event,
    ) -> int:
        """Stream the command's output and serve its checkpoints until it ends; a ``stop`` interrupts it."""
        done = threading.Event()
        failures: list[BaseException] = []
        watcher = None
        if on_checkpoint is not None:
            watcher = threading.Thread(
                target=_serve_checkpoints, args=(signal_file, on_checkpoint, done, failures), daemon=True
            )
            watcher.start()
        threading.Thread(target=_forward_stop, args=(stop, done, proc), daemon=True).start()
        try:
            if proc.stdout is not None and on_output is not None:
                for chunk in iter(lambda: proc.stdout.read1(65536), b""):  # type: ignore[union-attr]
                    if not stop.is_set():  # once interrupted, the command's own dying words are not shown
                        on_output(chunk.decode("utf-8", "replace"))
            code = proc.wait()
        except KeyboardInterrupt:
            _interrupt(proc)
            raise
        finally:
            done.set()
            if watcher is not None:
                watcher.join()
        if failures:
            raise failures[0]
        if stop.is_set():
            raise KeyboardInterrupt
        return code

    def _gitignore_outputs(self, outs: Iterable[Output]) -> None:
        """Add ``/name`` for each cached output to the ``.gitignore`` beside it, as DVC does."""
        by_dir: dict[str, list[str]] = {}
        for out in outs:
            if out.cache:
                parent, name = posixpath.split(out.path)
                by_dir.setdefault(parent, []).append("/" + name)
        for parent, entries in by_dir.items():
            path = self.root / parent / ".gitignore"
            text = path.read_text(encoding="utf-8") if path.exists() else ""
            present = set(text.splitlines())
            missing = [e for e in entries if e not in present]
            if missing:
                if text and not text.endswith("\n"):
                    text += "\n"
                atomic_write_text(path, text + "".join(e + "\n" for e in missing))

    # -- data sources, checkout, commit -------------------------------------------------------------

    def add(self, paths: Iterable[str]) -> list[str]:
        """Track data with a ``PATH.dvc`` file (DVC 3 layout), cache it and git-ignore it."""
        written = []
        for raw in paths:
            full = (Path.cwd() / raw).resolve() if not Path(raw).is_absolute() else Path(raw)
            try:
                rel = full.relative_to(self.root).as_posix()
            except ValueError:
                raise JupyterExpError(f"'{raw}' is outside the repository '{self.root}'") from None
            if not full.exists():
                raise JupyterExpError(f"'{rel}' does not exist")
            owner = self._stage_owning(rel)
            if owner is not None:
                raise JupyterExpError(
                    f"'{rel}' is an output of stage {owner}: it is tracked by 'dvc.lock' already"
                )
            info = self._save(self.cache, rel)
            entry: dict[str, Any] = {"md5": info.md5, "size": info.size}
            if info.nfiles is not None:
                entry["nfiles"] = info.nfiles
            entry["hash"] = "md5"
            entry["path"] = full.name
            dvcfile = full.parent / (full.name + ".dvc")
            atomic_write_text(dvcfile, yaml.safe_dump({"outs": [entry]}, sort_keys=False))
            stage = build_data_stage(f"{rel}.dvc", {"outs": [entry]})
            self._gitignore_outputs(stage.outs)
            written.append(f"{rel}.dvc")
        return written

    def _stage_owning(self, path: str) -> Stage | None:
        for stage in self.stages().values():
            if not stage.is_data_source and any(out.path == path for out in stage.outs):
                return stage
        return None

    def _recorded_outputs(self, stage: Stage) -> list[tuple[Output, HashInfo]]:
        """Cached outputs with the hashes ``dvc.lock`` (or the ``.dvc`` file) records for them."""
        try:
            if stage.is_data_source:
                return [
                    (out, HashInfo.from_lock_entry({**out.options, "path": out.def_path}))
                    for out in stage.outs
                ]
            entry = self._lock(stage) or {}
            recorded = {o.get("path"): o for o in entry.get("outs") or []}
            return [
                (out, HashInfo.from_lock_entry(recorded[out.def_path]))
                for out in stage.outs
                if out.cache and out.def_path in recorded
            ]
        except YAMLFileError as exc:
            where = stage.dvcfile if stage.is_data_source else f"{stage.lockfile}' stage '{stage.name}"
            raise YAMLFileError(f"'{where}': {exc}") from exc

    def checkout(self, targets: Iterable[str] | None = None, *, force: bool = False) -> list[str]:
        """Bring cached outputs back into the workspace to match ``dvc.lock`` and ``.dvc`` files."""
        graph = self.graph()
        restored = []
        for name in graph.ordered(self.select(graph, targets)):
            for out, info in self._recorded_outputs(graph.stages[name]):
                current = self._hash(out.path)
                if current is not None and current.md5 == info.md5:
                    continue
                self.cache.checkout(
                    out.path, info, force=force, progress=self._bar(f"Checking out {out.path}")
                )
                restored.append(out.path)
        return restored

    def commit(self, targets: Iterable[str] | None = None) -> list[str]:
        """Record the workspace's current deps and outputs in ``dvc.lock`` without running anything."""
        graph = self.graph()
        committed = []
        for name in graph.ordered(self.select(graph, targets)):
            stage = graph.stages[name]
            if stage.is_data_source:
                changes = self.changes(stage)
                if changes and stage.frozen:
                    self._warn_frozen_data(stage, changes)
                elif changes:
                    self.add([str(self.root / out.path) for out in stage.outs])
                    committed.append(name)
                continue
            if not self.changes(stage):
                continue
            entry = self._lock_entry(
                stage,
                self._dep_entries(stage),
                self.params_values(stage, strict=True),
                self._out_entries(stage),
            )
            self._write_lock(stage, entry)
            committed.append(name)
        return committed

    def used_objects(self) -> set[str]:
        """md5s of every output the workspace's lock and ``.dvc`` files reference (with dir contents)."""
        used: set[str] = set()
        for stage in self.stages().values():
            for _, info in self._recorded_outputs(stage):
                used.add(info.md5)
                if info.isdir and self.cache.exists(info):
                    used.update(e.md5 for e in self.cache.load_dir_manifest(info.md5))
        return used


def _run_cacheable(stage: Stage) -> bool:
    """DVC's rule: only stages with deps (or params) and outputs, none persistent or checkpoint, that
    are not always changed; others depend on more than their inputs."""
    if stage.always_changed or not (stage.deps or stage.params) or not stage.outs:
        return False
    return not any(out.persist or out.checkpoint for out in stage.outs)


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


def _serve_checkpoints(
    signal_file: Path, on_checkpoint: Callable[[], None], done: threading.Event, failures: list[BaseException]
) -> None:
    """Poll for the training process's checkpoint signal; commit, then release it by deleting the file.

    A signal still present once the command ended (it exited, or Ctrl-C stopped it, right after asking)
    is served too: outputs are written before the signal, so that checkpoint is complete, and no stale
    file is left behind."""
    while True:
        ended = done.is_set()
        if signal_file.exists():
            try:
                on_checkpoint()
            except BaseException as exc:  # surfaced by the main thread after the command ends
                failures.append(exc)
            finally:
                signal_file.unlink(missing_ok=True)
        if ended:
            return
        done.wait(0.02)


@contextlib.contextmanager
def _ctrl_c_sets(stop: threading.Event) -> Iterator[None]:
    """In the main thread, make Ctrl-C a ``stop`` request while a command runs.

    A ``KeyboardInterrupt`` raised between starting the command and supervising it (a Ctrl-C that
    arrives while ``Popen`` returns, under load) would leave the command running in its own session;
    a flag that the supervisor turns into SIGINT for the command's group cannot be lost that way.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _forward_stop(stop: threading.Event, done: threading.Event, proc: subprocess.Popen[bytes]) -> None:
    """Turn a ``stop`` request from another thread into the Ctrl-C the command would get in a terminal."""
    while not done.is_set():
        if stop.wait(0.05):
            _interrupt(proc)
            return


def _interrupt(proc: subprocess.Popen[bytes]) -> None:
    """Forward Ctrl-C to the command's process group (it has its own session, so neither a terminal's
    Ctrl-C nor a kernel interrupt reaches it directly), then make sure all of it ends."""
    _signal_group(proc, signal.SIGINT)
    started = time.monotonic()
    repeated = False
    while proc.poll() is None and time.monotonic() - started < 10:
        if not repeated and time.monotonic() - started > 2:
            # `sh -c` catches SIGINT; one landing in its child between fork and exec is lost, and the shell
            # then waits for a program that never saw it. A second Ctrl-C, as a user would press, ends that.
            _signal_group(proc, signal.SIGINT)
            repeated = True
        time.sleep(0.05)
    _signal_group(proc, signal.SIGKILL)  # whatever the shell started and left behind
    proc.wait()
    sys.stdout.flush()


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)
