"""Params at any revision and ``params diff``: the values of the keys the stages declare.

The compare engine and the ``dvc.yaml`` declarations live here too because ``metrics`` reuses them:
both are ``{file: {dotted.key: value}}`` per revision.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from typing import Any

from jupyter_exp import serialize
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
    """Files to read and the keys to keep (``None``: the whole file).

    As in DVC, every params file a stage uses is shown whole, plus ``params.yaml`` when it exists;
    ``deps`` keeps only the declared keys. A target no stage declares is read whole.
    """
    if targets is not None:
        paths = [posixpath.normpath(t) for t in targets]
    else:
        paths = list(dict.fromkeys([*decl.params, DEFAULT_PARAMS_FILE]))
        if deps:
            paths = list(decl.params)
    return {path: decl.params.get(path) if deps else None for path in paths}


def read_params(
    tree: TreeReader,
    targets: Iterable[str] | None = None,
    *,
    deps: bool = False,
    decl: Declared | None = None,
) -> dict[str, Flat]:
    """``{file: {dotted.key: value}}`` for the params files (or ``targets``) present in ``tree``."""
    spec = _spec(decl if decl is not None else declared(tree), targets, deps)
    return {
        path: _select(serialize.load_from(tree, path), keys)
        for path, keys in spec.items()
        if tree.exists(path)
    }


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


def render_params_diff(rows: Iterable[DiffRow], *, markdown: bool = False, no_path: bool = False) -> str:
    """``params diff`` as the DVC 2.0 release prints it: ``Path  Param  Old  New``."""
    return render_diff(rows, title="Param", change=False, markdown=markdown, no_path=no_path)


__all__ = [
    "DiffRow",
    "diff_json",
    "diff_params",
    "read_params",
    "render_params_diff",
    "show_params",
]
