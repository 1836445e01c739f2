"""``metrics show`` and ``metrics diff`` over any revisions, read through tree readers.

Metric files are the stages' ``metrics:``, the top-level ``metrics:`` and the summaries of DVC 2.0
``live:`` sections (``<dir>.json``); ``targets`` may also name files or folders directly.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from jupyter_exp import serialize
from jupyter_exp.errors import JupyterExpError
from jupyter_exp.fsutil import TreeReader
from jupyter_exp.params.compare import DiffRow, diff_files, diff_json, format_value, render_diff, render_table
from jupyter_exp.params.declared import Declared, declared

DEFAULT_PRECISION = 5
METRIC_SUFFIXES = (".json", ".yaml", ".yml", ".toml")

MetricDiffRow = DiffRow


def _files_under(tree: TreeReader, path: str) -> Iterator[str]:
    """Metric-looking files in a folder, recursively, in a stable order."""
    for name in tree.listdir(path):
        child = posixpath.join(path, name)
        if tree.isdir(child):
            yield from _files_under(tree, child)
        elif name.endswith(METRIC_SUFFIXES):
            yield child


def _under(path: str, folder: str) -> bool:
    return folder in (".", path) or path.startswith(folder.rstrip("/") + "/")


def metric_files(
    tree: TreeReader, targets: Iterable[str] | None = None, *, decl: Declared | None = None
) -> list[str]:
    """The metric files present in ``tree``: declared ones, or those ``targets`` name or contain."""
    declared_paths = (decl if decl is not None else declared(tree)).metrics
    if targets is None:
        wanted = declared_paths
    else:
        wanted = []
        for target in (posixpath.normpath(t) for t in targets):
            inside = [path for path in declared_paths if _under(path, target)]
            wanted.extend(inside or [target])
    files: list[str] = []
    for path in dict.fromkeys(wanted):
        if tree.isdir(path):
            files.extend(_files_under(tree, path))
        elif tree.exists(path):
            files.append(path)
    return files


def read_metrics(
    tree: TreeReader,
    targets: Iterable[str] | None = None,
    *,
    decl: Declared | None = None,
    flat: bool = True,
    errors: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """``{file: {dotted.key: value}}`` for one revision (nested dicts as written with ``flat=False``).

    A metric in Git, a cached metric output and a file inside a cached output directory read the same
    through the revision's tree. With ``errors``, unreadable files are left out and their errors appended
    there; without, the error is raised."""
    out = {}
    for path in metric_files(tree, targets, decl=decl):
        try:
            data = serialize.load_from(tree, path)
        except (JupyterExpError, OSError) as exc:
            if errors is None:
                raise
            errors.append(str(exc))
            continue
        out[path] = serialize.flatten(data) if flat else data
    return out


def show_metrics(
    trees: Mapping[str, TreeReader], targets: Iterable[str] | None = None, *, flat: bool = True
) -> dict[str, dict[str, dict[str, Any]]]:
    """:func:`read_metrics` for each revision, keyed as the caller named them."""
    wanted = list(targets) if targets is not None else None
    return {rev: read_metrics(tree, wanted, flat=flat) for rev, tree in trees.items()}


def diff_metrics(
    old_tree: TreeReader, new_tree: TreeReader, targets: Iterable[str] | None = None, *, all: bool = False
) -> list[DiffRow]:
    """Changed metrics between two revisions; ``change`` is ``new - old`` for numbers."""
    wanted = list(targets) if targets is not None else None
    return diff_files(read_metrics(old_tree, wanted), read_metrics(new_tree, wanted), all=all)


def render_metrics_diff(
    rows: Iterable[DiffRow],
    *,
    revs: tuple[str, str] = ("Old", "New"),
    markdown: bool = False,
    no_path: bool = False,
    precision: int | None = None,
) -> str:
    """``metrics diff`` as DVC 3 prints it: ``Path  Metric  <old rev>  <new rev>  Change``."""
    digits = DEFAULT_PRECISION if precision is None else precision
    return render_diff(rows, title="Metric", revs=revs, markdown=markdown, no_path=no_path, precision=digits)


def render_metrics_show(
    shown: Mapping[str, Mapping[str, Mapping[str, Any]]],
    *,
    markdown: bool = False,
    precision: int | None = None,
    with_rev: bool | None = None,
) -> str:
    """``metrics show``'s table: one row per file (and revision), one column per metric key.

    The ``Revision`` column appears when more than one revision is shown, as with ``-a``/``-A``.
    """
    digits = DEFAULT_PRECISION if precision is None else precision
    if with_rev is None:
        with_rev = len(shown) > 1
    keys = sorted({key for files in shown.values() for values in files.values() for key in values})
    rows = []
    for rev, files in shown.items():
        for path, values in files.items():
            prefix = [rev, path] if with_rev else [path]
            rows.append(prefix + [format_value(values.get(key), digits) for key in keys])
    header = (["Revision"] if with_rev else []) + ["Path", *keys]
    return render_table(header, rows, markdown=markdown)


__all__ = [
    "DEFAULT_PRECISION",
    "DiffRow",
    "MetricDiffRow",
    "diff_json",
    "diff_metrics",
    "metric_files",
    "read_metrics",
    "render_metrics_diff",
    "render_metrics_show",
    "show_metrics",
]
