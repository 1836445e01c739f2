"""Params and metrics of one revision, read through a TreeReader (no checkout), plus a per-commit cache.

A commit never changes, so what was read for a sha is kept in one JSON file under ``.dvc/tmp``; a warm
``exp show`` is then one ref pass and one file read. The files shown are the ones DVC 3 shows: the whole
``params.yaml``, the params each stage declares (whole files when declared without keys), top-level
``params:`` files, and every ``metrics`` output or top-level ``metrics:`` file. Metrics kept in the DVC
cache rather than in Git are read from the cache through the revision's ``dvc.lock``.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_exp import serialize
from jupyter_exp.errors import JupyterExpError
from jupyter_exp.fsutil import TreeReader, atomic_write_text
from jupyter_exp.scm.git import FileEntry, Git

DEFAULT_PARAMS_FILE = "params.yaml"
CACHE_PATH = Path(".dvc", "tmp", "jupyter-exp", "commits.json")
_FORMAT = 1


@dataclass
class RevData:
    """What ``exp show`` needs from one commit (or the workspace)."""

    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None
    time: float | None = None  # commit time, seconds since the epoch
    tz: int = 0  # commit timezone offset, seconds
    parents: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "p": self.params,
            "m": self.metrics,
            "e": self.error,
            "t": self.time,
            "z": self.tz,
            "r": self.parents,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RevData:
        return cls(data["p"], data["m"], data["e"], data["t"], data["z"], data["r"])


@dataclass
class _Declared:
    """Files a revision's dvc.yaml declares: params file -> keys (empty: whole file), metrics outputs."""

    params: dict[str, list[str]]
    metrics: list[tuple[str, bool, str]]  # (path, cached, dvc.lock path of its stage + "\0" + def_path)
    error: str | None = None


def _declared(tree: TreeReader) -> _Declared:
    from jupyter_exp.pipeline.stage import build_stage
    from jupyter_exp.pipeline.templating import resolve

    params: dict[str, list[str]] = {}
    if tree.exists(DEFAULT_PARAMS_FILE):
        params[DEFAULT_PARAMS_FILE] = []
    metrics: list[tuple[str, bool, str]] = []
    if not tree.exists("dvc.yaml"):
        return _Declared(params, metrics)
    try:
        pipeline = resolve(tree, "dvc.yaml")
        stages = [build_stage(name, definition, "dvc.yaml") for name, definition in pipeline.stages.items()]
    except JupyterExpError as exc:
        return _Declared(params, metrics, str(exc))
    whole = {p for p, keys in params.items() if not keys}
    for stage in stages:
        for dep in stage.params:
            if dep.path in whole:
                continue
            if not dep.keys:
                params[dep.path] = []
                whole.add(dep.path)
            else:
                keys = params.setdefault(dep.path, [])
                keys.extend(k for k in dep.keys if k not in keys)
        for out in stage.outs:
            if out.kind == "metrics":
                metrics.append((out.path, out.cache, f"{stage.lockfile}\0{stage.name}\0{out.def_path}"))
    for entry in pipeline.params:
        path = entry if isinstance(entry, str) else next(iter(entry))
        params[posixpath.normpath(path)] = []
    for entry in pipeline.metrics:
        path = entry if isinstance(entry, str) else next(iter(entry))
        metrics.append((posixpath.normpath(path), False, ""))
    return _Declared(params, metrics)


class Collector:
    """Reads params/metrics of revisions, memoising per commit sha (on disk) and per dvc.yaml (in memory)."""

    def __init__(self, git: Git, root: Path, objects_dir: Path) -> None:
        self.git = git
        self.root = root
        self.objects_dir = objects_dir
        self._cache_file = root / CACHE_PATH
        self._cache: dict[str, dict[str, Any]] | None = None
        self._dirty = False
        self._declared_memo: dict[tuple[Any, ...], _Declared] = {}
        self._templated: dict[FileEntry, bool] = {}  # dvc.yaml blob -> does it use ${...}

    # -- the on-disk cache --------------------------------------------------------------------
    def _load(self) -> dict[str, dict[str, Any]]:
        if self._cache is None:
            try:
                data = json.loads(self._cache_file.read_text())
                self._cache = data["commits"] if data.get("format") == _FORMAT else {}
            except (OSError, ValueError, KeyError, TypeError):
                self._cache = {}
        return self._cache

    def save(self) -> None:
        """Write new entries (last writer wins: a lost entry is only re-read next time)."""
        if self._dirty and self._cache is not None:
            atomic_write_text(self._cache_file, json.dumps({"format": _FORMAT, "commits": self._cache}))
            self._dirty = False

    # -- reading ------------------------------------------------------------------------------
    def commit(self, sha: str) -> RevData:
        """Params, metrics, time and parents of a commit (cached forever: commits are immutable)."""
        cache = self._load()
        hit = cache.get(sha)
        if hit is not None:
            return RevData.from_json(hit)
        commit = self.git.tree_at_commit(sha)
        data = self.read(commit.tree)
        data.time, data.tz, data.parents = commit.time, commit.tz, commit.parents
        cache[sha] = data.to_json()
        self._dirty = True
        return data

    def read(self, tree: TreeReader) -> RevData:
        """Params and metrics of any tree (the workspace is read this way, uncached)."""
        declared = self._declared_for(tree)
        data = RevData(error=declared.error)
        for path, keys in declared.params.items():
            try:
                values = serialize.load_from(tree, path)
            except (JupyterExpError, OSError) as exc:
                data.error = data.error or str(exc)
                continue
            flat = serialize.flatten(values)
            if keys:
                flat = {
                    k: v for k, v in flat.items() if any(k == key or k.startswith(key + ".") for key in keys)
                }
            data.params[path] = flat
        locks: dict[str, dict[str, Any]] = {}
        for path, cached, origin in declared.metrics:
            try:
                raw = self._metric_bytes(tree, path, cached, origin, locks)
            except (JupyterExpError, OSError) as exc:
                data.error = data.error or str(exc)
                continue
            if raw is None:
                continue
            try:
                data.metrics[path] = serialize.flatten(serialize.load_file(raw, name=path))
            except JupyterExpError as exc:
                data.error = data.error or str(exc)
        return data

    def _declared_for(self, tree: TreeReader) -> _Declared:
        entry = getattr(tree, "entry", None)
        if entry is None:
            return _declared(tree)
        dvcyaml = entry("dvc.yaml")
        # What dvc.yaml declares depends on params values only when it is templated.
        if dvcyaml is not None and dvcyaml not in self._templated:
            self._templated[dvcyaml] = b"${" in tree.read_bytes("dvc.yaml")
        key = (dvcyaml, entry(DEFAULT_PARAMS_FILE) if self._templated.get(dvcyaml) else None)
        if key not in self._declared_memo:
            self._declared_memo[key] = _declared(tree)
        return self._declared_memo[key]

    def _metric_bytes(
        self, tree: TreeReader, path: str, cached: bool, origin: str, locks: dict[str, dict[str, Any]]
    ) -> bytes | None:
        if tree.exists(path) and not tree.isdir(path):
            return tree.read_bytes(path)
        if not cached or not origin:
            return None
        from jupyter_exp.pipeline import lock as lockfile

        lock_path, stage, def_path = origin.split("\0")
        if lock_path not in locks:
            locks[lock_path] = (
                lockfile.load_text(tree.read_bytes(lock_path).decode(), lock_path)
                if tree.exists(lock_path)
                else {}
            )
        for out in (locks[lock_path].get(stage) or {}).get("outs") or []:
            if out.get("path") == def_path and out.get("md5"):
                md5 = out["md5"]
                obj = self.objects_dir / md5[:2] / md5[2:]
                return obj.read_bytes() if obj.is_file() else None
        return None
