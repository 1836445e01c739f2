"""``plots show`` / ``plots diff``: series of every revision overlaid on one offline HTML page.

Revisions arrive as tree readers keyed by the label to show (``workspace``, a branch, an
experiment name, a checkpoint sha); resolving names to trees is the experiments layer's job.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from jupyter_exp.fsutil import TreeReader
from jupyter_exp.plots.collect import TEMPLATES, PlotData, PlotSpec, Series, collect
from jupyter_exp.plots.render import render_page, to_json, write_page

DEFAULT_OUT_DIR = "dvc_plots"


def plots_diff(
    trees: Mapping[str, TreeReader],
    targets: Iterable[str] | None = None,
    *,
    out_dir: str | os.PathLike[str] = DEFAULT_OUT_DIR,
    props: Mapping[str, Any] | None = None,
) -> Path:
    """Overlay each revision's series and write ``<out_dir>/index.html``; returns that file's path."""
    return write_page(collect(trees, targets, props), out_dir)


def plots_show(
    tree: TreeReader,
    targets: Iterable[str] | None = None,
    *,
    out_dir: str | os.PathLike[str] = DEFAULT_OUT_DIR,
    props: Mapping[str, Any] | None = None,
    rev: str = "workspace",
) -> Path:
    """The plots of one revision (the workspace by default) as ``<out_dir>/index.html``."""
    return plots_diff({rev: tree}, targets, out_dir=out_dir, props=props)


def plots_json(
    trees: Mapping[str, TreeReader],
    targets: Iterable[str] | None = None,
    *,
    props: Mapping[str, Any] | None = None,
    out_dir: str | os.PathLike[str] = DEFAULT_OUT_DIR,
) -> dict[str, Any]:
    """``--json``: the data of every plot per revision, in DVC 3's ``plots diff --json`` outer shape
    (image plots are written to ``out_dir``, as DVC does, and named by path)."""
    return to_json(collect(trees, targets, props), list(trees), Path(out_dir))


__all__ = [
    "DEFAULT_OUT_DIR",
    "TEMPLATES",
    "PlotData",
    "PlotSpec",
    "Series",
    "collect",
    "plots_diff",
    "plots_json",
    "plots_show",
    "render_page",
]
