"""Status: how the workspace differs from what ``dvc.lock`` (or a ``.dvc`` file) records for a stage.

A stage is out of date when its command, a dep's hash, a declared param value or an output changed; the
reasons are worded as ``dvc status --json`` words them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_exp import serialize
from jupyter_exp.data.cache import Cache
from jupyter_exp.data.hashing import Hasher, HashInfo
from jupyter_exp.errors import JupyterExpError, YAMLFileError
from jupyter_exp.pipeline import imports, notebook
from jupyter_exp.pipeline import lock as lockfile
from jupyter_exp.pipeline.stage import Stage

_ABSENT = object()  # a params key that is not in its file (None is a value: `key: null`)


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


def locked_cmd(stage: Stage) -> str | list[str]:
    """The command as ``dvc.lock`` records it: a string, or a list for a stage with several."""
    return stage.cmd[0] if len(stage.cmd) == 1 else list(stage.cmd)


class StatusChecker:
    """Compares each stage of the workspace at ``root`` with its lock entry."""

    def __init__(self, root: Path, hasher: Hasher, cache: Cache) -> None:
        self.root = root
        self.hasher = hasher
        self.cache = cache

    def locked(self, stage: Stage) -> dict[str, Any] | None:
        """The stage's ``dvc.lock`` entry (None for a ``.dvc`` data source or a stage never run)."""
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

    def hash(self, path: str) -> HashInfo | None:
        """The workspace's hash of ``path`` (relative to the root), None when it does not exist."""
        full = self.root / path
        if not os.path.lexists(full):
            return None
        return self.hasher.hash(full)

    def notebook_code(self, path: str) -> str | None:
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
        return locked is not None and locked == self.notebook_code(path)

    def _hash_changes(self, recorded: Iterable[tuple[str, str | None, bool]]) -> dict[str, str]:
        """``{path: "not in cache" | "deleted" | "modified"}`` for each (path, recorded md5, cached) that the
        cache or the workspace no longer matches; as in DVC, a cached output missing from the cache
        reads "not in cache" first, whatever the workspace holds."""
        changed = {}
        for path, md5, cached in recorded:
            if cached and md5 and not self._in_cache(md5):
                changed[path] = "not in cache"
                continue
            current = self.hash(path)
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
        entry = self.locked(stage) or {}
        # DVC 3: a stage with neither deps nor outs runs every time (a "callback" stage).
        callback = not (stage.deps or stage.params or stage.outs)
        changes = StageChanges(deps={}, outs={}, always=stage.always_changed or callback)
        if entry and entry.get("cmd") != locked_cmd(stage):
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
