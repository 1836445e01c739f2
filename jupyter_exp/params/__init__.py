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


def _spec(decl: Declared, targets: Iterable[str] | None) -> ParamsSpec:
    if targets is None:
        return decl.params
    # A target that no stage declares is still read, whole, as ``params diff --targets`` does.
    return {path: decl.params.get(path) for path in (posixpath.normpath(t) for t in targets)}


def read_params(
    tree: TreeReader, targets: Iterable[str] | None = None, *, decl: Declared | None = None
) -> dict[str, Flat]:
    """``{file: {dotted.key: value}}`` for the declared params (or ``targets``) present in ``tree``."""
    spec = _spec(decl if decl is not None else declared(tree), targets)
    return {
        path: _select(serialize.load_from(tree, path), keys)
        for path, keys in spec.items()
        if tree.exists(path)
    }


def show_params(trees: Mapping[str, TreeReader], targets: Iterable[str] | None = None) -> dict[str, dict[str, Flat]]:
    """:func:`read_params` for each revision, keyed as the caller named them."""
    wanted = list(targets) if targets is not None else None
    return {rev: read_params(tree, wanted) for rev, tree in trees.items()}


def diff_params(
    old_tree: TreeReader, new_tree: TreeReader, targets: Iterable[str] | None = None, *, all: bool = False
) -> list[DiffRow]:
    """Changed params between two revisions (every declared param with ``all``)."""
    wanted = list(targets) if targets is not None else None
    return diff_files(read_params(old_tree, wanted), read_params(new_tree, wanted), all=all)


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
