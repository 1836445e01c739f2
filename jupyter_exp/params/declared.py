"""What the ``dvc.yaml`` files of one revision declare: params, metrics and plots, with root paths.

Everything is read through a :class:`~jupyter_exp.fsutil.TreeReader`, so a Git commit is read
without a checkout and ``exp show`` can run this once per commit.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from jupyter_exp.errors import YAMLFileError
from jupyter_exp.fsutil import TreeReader
from jupyter_exp.pipeline.stage import Stage, build_stage
from jupyter_exp.pipeline.templating import resolve

ROOT_DVCFILE = "dvc.yaml"

# file -> keys to read, or ``None`` for the whole file
ParamsSpec = dict[str, "tuple[str, ...] | None"]


@dataclass
class TopLevelPlot:
    """One entry of a top-level ``plots:`` list and the folder its paths are relative to."""

    base: str
    entry: Any


@dataclass
class Declared:
    """The declared files at one revision; paths relative to the repository root."""

    stages: list[Stage] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    params: ParamsSpec = field(default_factory=dict)
    plots: list[TopLevelPlot] = field(default_factory=list)
    #: values the stages took from ``vars:`` files through ``${...}``: file -> {dotted.key: value}
    vars: dict[str, dict[str, Any]] = field(default_factory=dict)


def _join(base: str, path: str) -> str:
    return posixpath.normpath(posixpath.join(base, path))


def _top_level_files(entries: Any, dvcfile: str, section: str) -> list[str]:
    if entries is None:
        return []
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise YAMLFileError(f"'{dvcfile}': top-level '{section}' must be a list of paths")
    return entries


def _merge_params(spec: ParamsSpec, path: str, keys: tuple[str, ...] | None) -> None:
    """Record ``keys`` of ``path``; a whole-file declaration (``None``) covers any key list."""
    if keys is None or (path in spec and spec[path] is None):
        spec[path] = None
    else:
        spec[path] = tuple(dict.fromkeys((*(spec.get(path) or ()), *keys)))


def declared(tree: TreeReader, dvcfiles: tuple[str, ...] = (ROOT_DVCFILE,)) -> Declared:
    """Collect the declarations of ``dvcfiles`` (the root ``dvc.yaml`` by default) that exist in ``tree``."""
    result = Declared()
    for dvcfile in dvcfiles:
        if not tree.exists(dvcfile):
            continue
        pipeline = resolve(tree, dvcfile)
        base = posixpath.dirname(dvcfile) or "."
        for name, definition in pipeline.stages.items():
            stage = build_stage(name, definition, dvcfile)
            result.stages.append(stage)
            result.metrics.extend(out.path for out in stage.outs if out.kind == "metrics")
            for dep in stage.params:
                _merge_params(result.params, dep.path, dep.keys or None)
        for used in pipeline.tracked_vars.values():
            for file, values in used.items():
                result.vars.setdefault(_join(base, file), {}).update(values)
        for path in _top_level_files(pipeline.metrics, dvcfile, "metrics"):
            result.metrics.append(_join(base, path))
        for path in _top_level_files(pipeline.params, dvcfile, "params"):
            _merge_params(result.params, _join(base, path), None)
        plots = pipeline.plots or []
        if not isinstance(plots, list):
            raise YAMLFileError(f"'{dvcfile}': top-level 'plots' must be a list")
        result.plots.extend(TopLevelPlot(base, entry) for entry in plots)
    result.metrics = list(dict.fromkeys(result.metrics))
    return result
