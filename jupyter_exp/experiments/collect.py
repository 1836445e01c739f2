"""Params and metrics of one revision for ``exp show``/``exp diff``, plus a per-commit cache.

What is read, and how, is the one reader ``metrics``, ``params`` and ``plots`` use: the revision's
declarations (:func:`~jupyter_exp.params.declared.declared`) read through an
:class:`~jupyter_exp.pipeline.outputs_tree.OutputsTree`, so a metric in Git, a cached metric output, and a
metric inside a cached output directory all read the same. A commit never changes, so what was read for a
sha is kept in one JSON file under ``.dvc/tmp``; a warm ``exp show`` is then one ref pass and one file read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_exp.errors import JupyterExpError
from jupyter_exp.fsutil import TreeReader, atomic_write_text
from jupyter_exp.metrics import read_metrics
from jupyter_exp.params import read_params
from jupyter_exp.params.declared import Declared, declared
from jupyter_exp.scm.git import FileEntry, Git

if TYPE_CHECKING:
    from jupyter_exp.data.cache import Cache

DEFAULT_PARAMS_FILE = "params.yaml"
CACHE_PATH = Path(".dvc", "tmp", "jupyter-exp", "commits.json")
_FORMAT = 2


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


class Collector:
    """Reads params/metrics of revisions, memoising per commit sha (on disk) and per dvc.yaml (in memory)."""

    def __init__(self, git: Git, root: Path, cache: Callable[[], Cache]) -> None:
        """``cache`` makes the repository's cache on the first commit not read yet (cached rows need none)."""
        self.git = git
        self.root = root
        self._make_cache = cache
        self._cache_file = root / CACHE_PATH
        self._cache: dict[str, dict[str, Any]] | None = None
        self._revs: dict[str, RevData] = {}  # what commit() returned: exp show asks up to 3 times per sha
        self._dirty = False
        self._declared_memo: dict[tuple[Any, ...], Declared | str] = {}
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
        known = self._revs.get(sha)
        if known is not None:
            return known
        cache = self._load()
        hit = cache.get(sha)
        if hit is not None:
            self._revs[sha] = data = RevData.from_json(hit)
            return data
        from jupyter_exp.pipeline.outputs_tree import revision_tree

        commit = self.git.tree_at_commit(sha)
        data = self.read(revision_tree(commit.tree, self._make_cache()))
        data.time, data.tz, data.parents = commit.time, commit.tz, commit.parents
        if data.error is None:  # a file missing from the cache now may be fetched later
            cache[sha] = data.to_json()
            self._revs[sha] = data
            self._dirty = True
        return data

    def read(self, tree: TreeReader) -> RevData:
        """Params and metrics of any tree (the workspace is read this way, uncached); a file that cannot
        be read is left out and named in ``error``, so one broken file does not hide a revision."""
        decl = self._declared_for(tree)
        errors: list[str] = []
        if isinstance(decl, str):  # a broken dvc.yaml: params.yaml is still shown
            errors.append(decl)
            decl = Declared()
        data = RevData(
            params=read_params(tree, decl=decl, errors=errors),
            metrics=read_metrics(tree, decl=decl, errors=errors),
        )
        data.error = errors[0] if errors else None
        return data

    def _declared_for(self, tree: TreeReader) -> Declared | str:
        """The revision's declarations (or the error reading them), memoised by ``dvc.yaml`` blob."""
        base = getattr(tree, "base", tree)
        entry = getattr(base, "entry", None)
        if entry is None:
            return _declared_or_error(tree)
        dvcyaml = entry("dvc.yaml")
        # What dvc.yaml declares depends on params values only when it is templated.
        if dvcyaml is not None and dvcyaml not in self._templated:
            self._templated[dvcyaml] = b"${" in tree.read_bytes("dvc.yaml")
        key = (dvcyaml, entry(DEFAULT_PARAMS_FILE) if self._templated.get(dvcyaml) else None)
        if key not in self._declared_memo:
            self._declared_memo[key] = _declared_or_error(tree)
        return self._declared_memo[key]


def _declared_or_error(tree: TreeReader) -> Declared | str:
    try:
        return declared(tree)
    except JupyterExpError as exc:
        return str(exc)
