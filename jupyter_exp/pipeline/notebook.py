"""A notebook as a stage: the papermill command ``stage add --notebook`` writes, and the notebook's code hash.

The command is papermill's own CLI (``papermill train.ipynb train.out.ipynb -p lr ${train.lr}``), so
the real ``dvc repro`` runs the same stage: papermill overrides the ``parameters``-tagged cell with the
stage's params (``${...}`` templating fills in their values, so ``exp run -S`` reaches the notebook),
executes it on a real kernel and writes the executed copy, a cached output. A failing cell makes
papermill exit non-zero after printing the cell's traceback, which fails the stage.

A notebook dep's ``dvc.lock`` entry is its file md5, as DVC records it; status then compares the
notebook's code instead (kernel, code cells' sources, which is the parameters cell), so saving a
notebook with new outputs or metadata does not make the stage changed. The code hash of each
notebook content seen is kept in the state db by file md5, which is how the locked version's code is
known once the file on disk has changed.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import posixpath
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jupyter_exp.errors import JupyterExpError

SUFFIX = ".ipynb"
DEFAULT_PARAMS_FILE = "params.yaml"


def is_notebook(path: str) -> bool:
    return path.endswith(SUFFIX)


def executed_path(notebook: str) -> str:
    """Where the executed copy goes: ``train.ipynb`` -> ``train.out.ipynb``, next to the source."""
    return notebook[: -len(SUFFIX)] + ".out" + SUFFIX


def _injection(name: str, key: str, value: Any) -> list[str]:
    """papermill words passing param ``key``'s templated value as ``name``, typed as in the params file.

    ``-p`` reads numbers (``1e-05`` too); strings go raw (``-r``) so ``"1"`` stays a string; booleans go
    as YAML because ``${}`` renders them ``true``/``false``, which ``-p`` would read as strings.
    """
    if isinstance(value, bool):
        return ["-y", f"'{name}: ${{{key}}}'"]
    if isinstance(value, str):
        return ["-r", name, f"'${{{key}}}'"]
    if isinstance(value, int | float):
        return ["-p", name, f"${{{key}}}"]
    kind = "null" if value is None else type(value).__name__
    raise JupyterExpError(
        f"param '{key}' is a {kind}: a notebook stage passes numbers, strings and booleans to papermill"
    )


def papermill_cmd(notebook: str, executed: str, params: Mapping[str, Any]) -> str:
    """The stage command: ``params`` maps each declared key (``train.lr``) to its current value."""
    words = ["papermill", shlex.quote(notebook), shlex.quote(executed), "--no-progress-bar", "--log-output"]
    names: dict[str, str] = {}
    for key, value in params.items():
        name = key.rsplit(".", 1)[-1]
        if not name.isidentifier() or keyword.iskeyword(name):
            raise JupyterExpError(
                f"param '{key}': '{name}' cannot be a notebook variable (not a Python name)"
            )
        if name in names:
            raise JupyterExpError(
                f"params '{names[name]}' and '{key}' would both set the notebook variable '{name}'"
            )
        names[name] = key
        words += _injection(name, key, value)
    return " ".join(words)


def injected_keys(params: Sequence[str]) -> list[str]:
    """``-p train.lr,train.epochs`` -> the keys; a params file other than params.yaml is refused, since
    ``${}`` templating (what both we and DVC use to fill the command) reads params.yaml only."""
    keys: list[str] = []
    for value in params:
        file, sep, names = value.rpartition(":")
        if sep and file and file != DEFAULT_PARAMS_FILE:
            raise JupyterExpError(
                f"-p {value}: a notebook stage takes its params from {DEFAULT_PARAMS_FILE} "
                "(move them there, or add a `vars:` entry and pass them by hand)"
            )
        keys += [k for k in names.split(",") if k]
    return keys


def code_digest(data: bytes) -> str | None:
    """md5 of what executing the notebook depends on, or None when ``data`` is not a notebook.

    The kernel's name and, per code cell, its source and whether it is the parameters cell; outputs,
    execution counts, markdown, cell ids and other metadata are left out.
    """
    try:
        notebook = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        return None
    metadata = notebook.get("metadata") if isinstance(notebook.get("metadata"), dict) else {}
    kernelspec = metadata.get("kernelspec") if isinstance(metadata.get("kernelspec"), dict) else {}
    code = []
    for cell in notebook["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        tags = (cell.get("metadata") or {}).get("tags") or []
        code.append(["".join(source) if isinstance(source, list) else source, "parameters" in tags])
    canonical = json.dumps({"kernel": kernelspec.get("name"), "code": code}, sort_keys=True)
    return hashlib.md5(canonical.encode()).hexdigest()


def default_outputs(notebook: str, outs: Sequence[str]) -> list[str]:
    """The stage's outs: the executed copy first, unless the user named it already."""
    executed = executed_path(notebook)
    normalized = {posixpath.normpath(o) for o in outs}
    return list(outs) if posixpath.normpath(executed) in normalized else [executed, *outs]


def stage_command(directory: Path, notebook: str, params: Sequence[str], executed: str | None = None) -> str:
    """The papermill command for ``notebook`` (relative to ``directory``, where dvc.yaml and params.yaml
    are), passing the ``-p`` keys with their types as params.yaml has them now."""
    from jupyter_exp import serialize

    if not is_notebook(notebook):
        raise JupyterExpError(f"--notebook {notebook}: not a Jupyter notebook (*{SUFFIX})")
    source = directory / notebook
    if not source.is_file():
        raise JupyterExpError(f"--notebook {notebook}: the notebook does not exist")
    if code_digest(source.read_bytes()) is None:
        raise JupyterExpError(f"--notebook {notebook}: the file is not a valid notebook (JSON with cells)")
    keys = injected_keys(params)
    values: dict[str, Any] = {}
    if keys:
        params_file = directory / DEFAULT_PARAMS_FILE
        data = serialize.load_file(params_file, name=DEFAULT_PARAMS_FILE) if params_file.is_file() else {}
        for key in keys:
            try:
                values[key] = serialize.get_path(data, key)
            except KeyError:
                raise JupyterExpError(f"param '{key}' is not in {DEFAULT_PARAMS_FILE}") from None
    return papermill_cmd(notebook, executed or executed_path(notebook), values)
