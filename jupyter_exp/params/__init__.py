"""Params at any revision and ``params diff``: the values of the keys the stages declare.

The compare engine and the ``dvc.yaml`` declarations live here too because ``metrics`` reuses them:
both are ``{file: {dotted.key: value}}`` per revision.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from typing import Any

from jupyter_exp import serialize
from jupyter_exp.errors import JupyterExpError
from jupyter_exp.fsutil import TreeReader
from jupyter_exp.params.compare import DiffRow, diff_files, diff_json, render_diff
from jupyter_exp.params.declared import Declared, ParamsSpec, declared
from jupyter_exp.pipeline.stage import DEFAULT_PARAMS_FILE

Flat = dict[str, Any]


def _select(data: Mapping[str, Any], keys: tuple[str, ...] | None) -> Flat:
    """The declared keys of one file, flattened; a key that is a section expands to its leaves."""
    if keys is None:
        return serialize.flatten(data)
    missing = object()
    out: Flat = {}
    for key in keys:
        value = serialize.get_path(data, key, missing)
        if value is missing:
            continue
        if isinstance(value, Mapping) and value:
            out.update({f"{key}.{sub}": v for sub, v in serialize.flatten(value).items()})
        else:
            out[key] = value
    return out


def _spec(decl: Declared, targets: Iterable[str] | None, deps: bool) -> ParamsSpec:
    """Files to read and the keys to keep (``None``: the whole file), as DVC 3 collects them.

    The keys the stages declare (a file declared without keys, or a top-level ``params:`` file, is whole),
    plus the whole ``params.yaml`` unless ``deps``. A target is read whole (its declared keys with ``deps``).
    """
    if targets is not None:
        paths = [posixpath.normpath(t) for t in targets]
        return {path: decl.params.get(path) if deps else None for path in paths}
    spec = dict(decl.params)
    if not deps:
        spec[DEFAULT_PARAMS_FILE] = None
    return spec


def read_params(
    tree: TreeReader,
    targets: Iterable[str] | None = None,
    *,
    deps: bool = False,
    decl: Declared | None = None,
    errors: list[str] | None = None,
) -> dict[str, Flat]:
    """``{file: {dotted.key: value}}`` for the params files (or ``targets``) present in ``tree``.

    With ``errors``, a file that cannot be read is left out and its error appended there (``exp show``
    shows the rest of the revision); without, the error is raised."""
    decl = decl if decl is not None else declared(tree)
    spec = _spec(decl, targets, deps)
    out: dict[str, Flat] = {}
    for path, keys in spec.items():
        try:
            if tree.exists(path):
                out[path] = _select(serialize.load_from(tree, path), keys)
        except (JupyterExpError, OSError) as exc:
            if errors is None:
                raise
            errors.append(str(exc))
    if targets is None:  # as DVC: values stages took from `vars:` files, for files not shown already
        for path, values in decl.vars.items():
            out.setdefault(path, dict(values))
    return out


def show_params(
    trees: Mapping[str, TreeReader], targets: Iterable[str] | None = None, *, deps: bool = False
) -> dict[str, dict[str, Flat]]:
    """:func:`read_params` for each revision, keyed as the caller named them."""
    wanted = list(targets) if targets is not None else None
    return {rev: read_params(tree, wanted, deps=deps) for rev, tree in trees.items()}


def diff_params(
    old_tree: TreeReader,
    new_tree: TreeReader,
    targets: Iterable[str] | None = None,
    *,
    all: bool = False,
    deps: bool = False,
) -> list[DiffRow]:
    """Changed params between two revisions (every param with ``all``; stage params only with ``deps``)."""
    wanted = list(targets) if targets is not None else None
    return diff_files(
        read_params(old_tree, wanted, deps=deps), read_params(new_tree, wanted, deps=deps), all=all
    )


def render_params_diff(
    rows: Iterable[DiffRow],
    *,
    revs: tuple[str, str] = ("Old", "New"),
    markdown: bool = False,
    no_path: bool = False,
) -> str:
    """``params diff`` as DVC 3 prints it: ``Path  Param  <old rev>  <new rev>``."""
    return render_diff(rows, title="Param", revs=revs, change=False, markdown=markdown, no_path=no_path)


__all__ = [
    "DiffRow",
    "diff_json",
    "diff_params",
    "read_params",
    "render_params_diff",
    "show_params",
]
