"""The result types front ends render or build, importable without reaching into the core's modules.

``Repo`` methods return these; a front end that needs the class itself (an ``isinstance`` to choose a view,
a ``StageSpec`` to build a stage from options) imports it from here. Each loads on first use, so importing
this module costs nothing at start-up.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jupyter_exp.experiments.diff import DiffResult
    from jupyter_exp.experiments.run import ExpResult
    from jupyter_exp.experiments.table import (
        BEST_TRIAL,
        CREATED,
        EXPERIMENT,
        MISSING,
        ExpTable,
        TableView,
        format_value,
    )
    from jupyter_exp.live.tsv import FolderTail
    from jupyter_exp.pipeline.dvcfile import StageSpec

_HOMES = {
    "DiffResult": "jupyter_exp.experiments.diff",
    "ExpResult": "jupyter_exp.experiments.run",
    "ExpTable": "jupyter_exp.experiments.table",
    "MISSING": "jupyter_exp.experiments.table",
    "BEST_TRIAL": "jupyter_exp.experiments.table",
    "CREATED": "jupyter_exp.experiments.table",
    "EXPERIMENT": "jupyter_exp.experiments.table",
    "TableView": "jupyter_exp.experiments.table",
    "format_value": "jupyter_exp.experiments.table",
    "StageSpec": "jupyter_exp.pipeline.dvcfile",
    "FolderTail": "jupyter_exp.live.tsv",
}

__all__ = [
    "BEST_TRIAL",
    "CREATED",
    "EXPERIMENT",
    "MISSING",
    "DiffResult",
    "ExpResult",
    "ExpTable",
    "FolderTail",
    "StageSpec",
    "TableView",
    "format_value",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(name)
    return getattr(import_module(_HOMES[name]), name)
