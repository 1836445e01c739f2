"""Writing stages into ``dvc.yaml`` while keeping the user's comments, key order and templates."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_exp.errors import JupyterExpError, YAMLFileError
from jupyter_exp.fsutil import atomic_write_bytes, atomic_write_text, relpath

_STAGE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def _split_params(values: list[str]) -> list[Any]:
    """``-p lr,epochs -p train.yaml:a,b`` -> ``["lr", "epochs", {"train.yaml": ["a", "b"]}]``."""
    entries: list[Any] = []
    for value in values:
        file, sep, keys = value.rpartition(":")
        names = [k for k in keys.split(",") if k]
        if sep and file:
            entries.append({file: names or None})
        else:
            entries.extend(names)
    return entries


def _paths(values: list[str], *, cache: bool | None = None, checkpoint: bool = False) -> list[Any]:
    if checkpoint:
        return [{v: {"checkpoint": True}} for v in values]
    if cache is False:
        return [{v: {"cache": False}} for v in values]
    return list(values)


@dataclass
class StageSpec:
    """A stage definition as ``stage add`` options describe it."""

    definition: dict[str, Any]

    @classmethod
    def from_options(
        cls,
        *,
        cmd: str,
        deps: Sequence[str] = (),
        outs: Sequence[str] = (),
        outs_no_cache: Sequence[str] = (),
        params: Sequence[str] = (),
        metrics: Sequence[str] = (),
        metrics_no_cache: Sequence[str] = (),
        plots: Sequence[str] = (),
        plots_no_cache: Sequence[str] = (),
        checkpoints: Sequence[str] = (),
        live: str | None = None,
        wdir: str | None = None,
        desc: str | None = None,
        always_changed: bool = False,
    ) -> StageSpec:
        definition: dict[str, Any] = {"cmd": cmd}
        if wdir:
            definition["wdir"] = wdir
        if deps:
            definition["deps"] = list(deps)
        if params:
            definition["params"] = _split_params(list(params))
        all_outs = _paths(list(outs)) + _paths(list(outs_no_cache), cache=False) + _paths(list(checkpoints), checkpoint=True)
        if all_outs:
            definition["outs"] = all_outs
        all_metrics = _paths(list(metrics)) + _paths(list(metrics_no_cache), cache=False)
        if all_metrics:
            definition["metrics"] = all_metrics
        all_plots = _paths(list(plots)) + _paths(list(plots_no_cache), cache=False)
        if all_plots:
            definition["plots"] = all_plots
        if live:
            definition["live"] = {live: {"summary": True, "html": True}}
        if desc:
            definition["desc"] = desc
        if always_changed:
            definition["always_changed"] = True
        return cls(definition)


def write_stage(root: Path, dvcfile: Path, name: str, definition: Any, *, force: bool) -> bool:
    """Put ``definition`` under ``stages.<name>`` of ``dvcfile``; returns True when it replaced a stage.

    The file is edited round-trip, so comments, key order and ``${...}`` templates elsewhere survive.
    An existing stage is only replaced with ``force`` (the magics pass it: re-running a cell replaces).
    """
    where = relpath(dvcfile, root)
    if not _STAGE_NAME.match(name):
        raise JupyterExpError(f"'{name}' is not a valid stage name: use letters, digits, '-' and '_'")
    yaml = _yaml()
    if dvcfile.exists():
        try:
            document = yaml.load(dvcfile.read_text(encoding="utf-8"))
        except Exception as exc:
            raise YAMLFileError(f"'{where}' is not valid YAML: {exc}") from exc
    else:
        document = None
    if document is None:
        from ruamel.yaml.comments import CommentedMap

        document = CommentedMap()
    stages = document.setdefault("stages", {})
    if stages is None:
        stages = document["stages"] = {}
    replaced = name in stages
    if replaced and not force:
        raise JupyterExpError(f"stage '{name}' already exists in '{where}': use --force to overwrite it")
    stages[name] = definition
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    atomic_write_text(dvcfile, buffer.getvalue())
    return replaced


def add_stage(
    root: Path, dvcfile: Path, name: str, definition: Any, *, force: bool, check: Callable[[], object]
) -> bool:
    """:func:`write_stage`, then ``check()`` (load the whole pipeline); a failure restores the file.

    The one way a stage is added (CLI, ``%%stage``, ``Repo.add_stage``), so paths, templates and output
    clashes are validated by the same code that loads dvc.yaml, and a refused stage leaves no trace.
    """
    before = dvcfile.read_bytes() if dvcfile.exists() else None
    replaced = write_stage(root, dvcfile, name, definition, force=force)
    try:
        check()
    except BaseException:
        if before is None:
            dvcfile.unlink()
        else:
            atomic_write_bytes(dvcfile, before)
        raise
    return replaced
