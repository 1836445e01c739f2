"""``dvc.lock`` (schema '2.0', DVC 3 layout): what each stage last ran with and produced."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import yaml

from jupyter_exp.errors import YAMLFileError
from jupyter_exp.fsutil import atomic_write_text
from jupyter_exp.serialize import yaml_loader

SCHEMA = "2.0"

_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_write_lock = threading.Lock()


class _Dumper(_BaseDumper):  # type: ignore[misc, valid-type]
    """Quotes strings as DVC's writer (ruamel) does, so a lock does not flip style with each tool:
    a string that needs quotes and holds ``'`` is double-quoted (PyYAML would double the ``'``)."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = None
    if "'" in value and yaml.dump(value, Dumper=_BaseDumper, allow_unicode=True).startswith("'"):
        style = '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def load_text(text: str, name: str) -> dict[str, dict[str, Any]]:
    """Parse lock text into ``{stage name: entry}``."""
    try:
        data = yaml.load(text, Loader=yaml_loader()) or {}
    except yaml.YAMLError as exc:
        raise YAMLFileError(f"'{name}' is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise YAMLFileError(f"'{name}' must be a mapping")
    if "schema" not in data:
        raise YAMLFileError(f"'{name}' has no 'schema': lock files older than DVC 2.0 are not supported")
    if str(data["schema"]) != SCHEMA:
        raise YAMLFileError(f"'{name}' has schema {data['schema']!r}; only '{SCHEMA}' is supported")
    stages = data.get("stages") or {}
    if not isinstance(stages, dict):
        raise YAMLFileError(f"'{name}': 'stages' must be a mapping")
    for stage, entry in stages.items():
        _check_entry(entry, name, stage)
    return stages


def _check_entry(entry: Any, name: str, stage: str) -> None:
    """The shape every reader of an entry relies on, so a hand-edited lock is an error, not a crash."""
    where = f"'{name}': stage '{stage}'"
    if not isinstance(entry, dict):
        raise YAMLFileError(f"{where} must be a mapping")
    for key in ("deps", "outs"):
        items = entry.get(key) or []
        if not isinstance(items, list) or not all(
            isinstance(item, dict) and isinstance(item.get("path"), str) for item in items
        ):
            raise YAMLFileError(f"{where}: '{key}' must be a list of entries with a 'path'")
    params = entry.get("params") or {}
    if not isinstance(params, dict) or not all(isinstance(values, dict) for values in params.values()):
        raise YAMLFileError(f"{where}: 'params' must map each params file to its values")


def load(path: Path, name: str | None = None) -> dict[str, dict[str, Any]]:
    """The stages of the lock at ``path``; ``name`` (its path inside the repo) is what errors show."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    return load_text(text, name or str(path))


def dump_text(stages: dict[str, dict[str, Any]]) -> str:
    return yaml.dump(
        {"schema": SCHEMA, "stages": stages},
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,  # as DVC: `ü`, not `"\xFC"`
    )


def update(path: Path, changes: dict[str, dict[str, Any] | None]) -> None:
    """Set (or, with ``None``, drop) stage entries and rewrite the lock atomically.

    Stages keep their existing order; new ones go to the end, as DVC does.
    """
    with _write_lock:
        stages = load(path)
        for name, entry in changes.items():
            if entry is None:
                stages.pop(name, None)
            else:
                stages[name] = entry
        if stages:
            atomic_write_text(path, dump_text(stages))
        elif path.exists():
            os.unlink(path)
