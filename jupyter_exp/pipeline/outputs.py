"""A stage's data: its outputs cached and recorded (lock entries, ``.dvc`` files, ``.gitignore``), and
brought back into the workspace from the cache (checkout, run-cache restore).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from jupyter_exp.data.cache import Cache
from jupyter_exp.data.hashing import Hasher, HashInfo, Progress
from jupyter_exp.errors import JupyterExpError, ReproductionError, YAMLFileError
from jupyter_exp.fsutil import atomic_write_text
from jupyter_exp.pipeline import lock as lockfile
from jupyter_exp.pipeline.paths import repo_path
from jupyter_exp.pipeline.stage import Output, Stage, build_data_stage
from jupyter_exp.pipeline.status import StatusChecker, locked_cmd

#: Given what is being done ("Hashing data"), returns a ``(done, total)`` callback a front end draws as a bar.
ProgressFactory = Callable[[str], Progress]


class Outputs:
    """Caches and records the outputs of the workspace at ``root``."""

    def __init__(
        self,
        root: Path,
        hasher: Hasher,
        cache: Cache,
        copy_cache: Cache,
        checker: StatusChecker,
        progress: ProgressFactory | None,
    ) -> None:
        self.root = root
        self.hasher = hasher
        self.cache = cache
        # Uncached outputs (metrics with `cache: false`) are kept for the run cache as copies.
        self.copy_cache = copy_cache
        self.checker = checker
        self.progress = progress

    def bar(self, what: str) -> Progress | None:
        return self.progress(what) if self.progress is not None else None

    def hash_with_progress(self, path: str) -> HashInfo:
        return self.hasher.hash(self.root / path, self.bar(f"Hashing {path}"))

    def save(self, cache: Cache, path: str) -> HashInfo:
        """Hash then cache an output, each with a progress bar where the front end draws them."""
        info = self.hash_with_progress(path)
        return cache.save(self.root / path, info, progress=self.bar(f"Caching {path}"))

    def dep_entries(self, stage: Stage) -> list[dict[str, Any]]:
        entries = []
        for dep in sorted(stage.deps, key=lambda d: d.def_path):
            info = self.checker.hash(dep.path)
            if info is None:
                raise ReproductionError(f"dependency '{dep.def_path}' of stage {stage} does not exist")
            entries.append(info.to_lock_entry(dep.def_path))
            self.checker.notebook_code(dep.path)  # remembered: a later outputs-only save is then recognised
        return entries

    def out_entries(self, stage: Stage, *, missing_ok: bool = False) -> list[dict[str, Any]]:
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
                info = self.hash_with_progress(out.path)
            elif out.checkpoint and full.is_file():  # a new model each checkpoint: one read to hash+copy
                info = cache.ingest(out.path, self.bar(f"Caching {out.path}"))
            else:
                info = self.save(cache, out.path)
            entries.append(info.to_lock_entry(out.def_path))
        return entries

    def lock_entry(
        self, stage: Stage, deps: list[dict[str, Any]], params: dict[str, Any], outs: list[dict[str, Any]]
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {"cmd": locked_cmd(stage)}
        if deps:
            entry["deps"] = deps
        if params:
            entry["params"] = params
        if outs:
            entry["outs"] = outs
        return entry

    def write_lock(self, stage: Stage, entry: dict[str, Any]) -> None:
        lockfile.update(self.root / stage.lockfile, {stage.name: entry})
        self.gitignore(stage.outs)

    def gitignore(self, outs: Iterable[Output]) -> None:
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

    def restore(self, stage: Stage, entry: dict[str, Any]) -> bool:
        """Check out a run-cache entry's outputs if the cache holds all of them; False (nothing touched) if not."""
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

    def add(self, paths: Iterable[str], stages: Iterable[Stage]) -> list[str]:
        """Track data with a ``PATH.dvc`` file (DVC 3 layout), cache it and git-ignore it; ``stages`` are
        the repository's (a stage's output is tracked by ``dvc.lock`` already)."""
        known = list(stages)
        written = []
        for raw in paths:
            full = (Path.cwd() / raw).resolve() if not Path(raw).is_absolute() else Path(raw)
            try:
                rel = full.relative_to(self.root).as_posix()
            except ValueError:
                raise JupyterExpError(f"'{raw}' is outside the repository '{self.root}'") from None
            if not full.exists():
                raise JupyterExpError(f"'{rel}' does not exist")
            repo_path(".", rel, "add", f"'{raw}'", output=True)  # not in .git or .dvc, not the whole repo
            owner = _stage_owning(known, rel)
            if owner is not None:
                raise JupyterExpError(
                    f"'{rel}' is an output of stage {owner}: it is tracked by 'dvc.lock' already"
                )
            info = self.save(self.cache, rel)
            entry: dict[str, Any] = {"md5": info.md5, "size": info.size}
            if info.nfiles is not None:
                entry["nfiles"] = info.nfiles
            entry["hash"] = "md5"
            entry["path"] = full.name
            dvcfile = full.parent / (full.name + ".dvc")
            atomic_write_text(dvcfile, yaml.safe_dump({"outs": [entry]}, sort_keys=False))
            stage = build_data_stage(f"{rel}.dvc", {"outs": [entry]})
            self.gitignore(stage.outs)
            written.append(f"{rel}.dvc")
        return written

    def recorded(self, stage: Stage) -> list[tuple[Output, HashInfo]]:
        """Cached outputs with the hashes ``dvc.lock`` (or the ``.dvc`` file) records for them."""
        try:
            if stage.is_data_source:
                return [
                    (out, HashInfo.from_lock_entry({**out.options, "path": out.def_path}))
                    for out in stage.outs
                ]
            entry = self.checker.locked(stage) or {}
            recorded = {o.get("path"): o for o in entry.get("outs") or []}
            return [
                (out, HashInfo.from_lock_entry(recorded[out.def_path]))
                for out in stage.outs
                if out.cache and out.def_path in recorded
            ]
        except YAMLFileError as exc:
            where = stage.dvcfile if stage.is_data_source else f"{stage.lockfile}' stage '{stage.name}"
            raise YAMLFileError(f"'{where}': {exc}") from exc

    def checkout(self, stage: Stage, *, force: bool = False, checkpoints_only: bool = False) -> list[str]:
        """Bring the stage's cached outputs back into the workspace as recorded; returns the paths restored."""
        restored = []
        for out, info in self.recorded(stage):
            if checkpoints_only and not out.checkpoint:
                continue
            current = self.checker.hash(out.path)
            if current is not None and current.md5 == info.md5:
                continue
            self.cache.checkout(out.path, info, force=force, progress=self.bar(f"Checking out {out.path}"))
            restored.append(out.path)
        return restored

    def commit(self, stage: Stage, stages: Iterable[Stage]) -> None:
        """Record the workspace's current deps and outputs of a stage without running anything."""
        if stage.is_data_source:
            self.add([str(self.root / out.path) for out in stage.outs], stages)
            return
        entry = self.lock_entry(
            stage,
            self.dep_entries(stage),
            self.checker.params_values(stage, strict=True),
            self.out_entries(stage),
        )
        self.write_lock(stage, entry)

    def used_objects(self, stages: Iterable[Stage]) -> set[str]:
        """md5s of every output the stages' lock entries and ``.dvc`` files reference (with dir contents)."""
        used: set[str] = set()
        for stage in stages:
            for _, info in self.recorded(stage):
                used.add(info.md5)
                if info.isdir and self.cache.exists(info):
                    used.update(e.md5 for e in self.cache.load_dir_manifest(info.md5))
        return used


def _stage_owning(stages: list[Stage], path: str) -> Stage | None:
    for stage in stages:
        if not stage.is_data_source and any(out.path == path for out in stage.outs):
            return stage
    return None
