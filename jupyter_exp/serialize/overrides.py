"""The ``-S`` override grammar of ``exp run`` (Hydra's, as DVC 3 uses it): ``key=value`` sets,
``+key=value`` adds, ``++key=value`` adds or sets, ``~key`` deletes; values parse as YAML scalars would.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable
from typing import Any

from jupyter_exp.errors import YAMLFileError
from jupyter_exp.serialize.formats import dump_file, load_file, yaml_loader
from jupyter_exp.serialize.keys import split_key

_OVERRIDE = re.compile(r"^(?P<op>\+\+|\+|~)?(?P<key>[^=]+?)(?:=(?P<value>.*))?$", re.DOTALL)
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][+-]?\d+|\d+\.\d*[eE][+-]?\d+|inf|nan)$", re.I)


def parse_value(text: str) -> Any:
    """An override's value as Hydra reads it: ints, floats (``1e-3`` too), booleans, ``null``,
    ``[..]``/``{..}`` and quoted strings as YAML flow values; anything else is a plain string.

    A value that starts like a flow value but does not parse (``[1,``) is an error, as in DVC: taking
    it as a string would silently run an experiment with a parameter the user did not mean."""
    stripped = text.strip()
    if stripped == "":
        return ""
    if _INT.match(stripped):
        return int(stripped)
    if _FLOAT.match(stripped):
        return float(stripped)
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "~"):
        return None
    if stripped[0] in "[{'\"":
        import yaml

        try:
            return yaml.load(stripped, Loader=yaml_loader())  # noqa: S506
        except yaml.YAMLError as exc:
            problem = str(getattr(exc, "problem", None) or exc).strip()
            raise YAMLFileError(f"-S value {text!r} is not valid YAML ({problem}); quote it to mean a string") from None
    return stripped


def _override_error(name: str, message: str) -> YAMLFileError:
    return YAMLFileError(f"Invalid `--set-param` value for '{name}': {message}")


def apply_overrides_to(data: dict[str, Any], overrides: Iterable[str], *, name: str) -> dict[str, Any]:
    """Apply Hydra-style overrides to a copy of ``data``: ``a.b=v`` changes an existing key,
    ``+k=v`` adds one, ``++k=v`` adds or changes, ``~k`` (or ``~k=v`` when equal) removes."""
    result = copy.deepcopy(data)
    for override in overrides:
        match = _OVERRIDE.match(override.strip())
        if not match:
            raise _override_error(name, f"cannot parse '{override}'")
        op, key, raw = match["op"] or "", match["key"].strip(), match["value"]
        parts = split_key(key)
        if not parts:
            raise _override_error(name, f"cannot parse '{override}'")
        if op != "~" and raw is None:
            raise _override_error(name, f"'{override}' has no value: use {key}=<value>")
        parent = _walk_parent(result, parts, name, key, create=op in ("+", "++"))
        last = parts[-1]
        exists = _has(parent, last)
        if op == "~":
            if not exists:
                raise _override_error(name, f"Could not delete from config. '{key}' does not exist.")
            if raw is not None and _get(parent, last) != parse_value(raw):
                raise _override_error(
                    name,
                    f"Could not delete from config. The value of '{key}' is {_get(parent, last)!r} not {raw}",
                )
            _delete(parent, last)
            continue
        value = parse_value(raw or "")
        if op == "" and not exists:
            raise _override_error(
                name,
                f"Could not override '{key}'. No match in config. To append to your config use +{override}",
            )
        if op == "+" and exists:
            raise _override_error(
                name,
                f"Could not append to config. An item is already at '{key}' (use ++{key}=... to override it)",
            )
        _set(parent, last, value, name, key)
    return result


def _walk_parent(data: Any, parts: list[str], name: str, key: str, *, create: bool) -> Any:
    node = data
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            if not (part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node)):
                raise _override_error(
                    name, f"Could not override '{key}': no index {part} in '{'.'.join(parts[:i])}'"
                )
            node = node[int(part)]
        elif isinstance(node, dict):
            if part not in node:
                if not create:
                    raise _override_error(
                        name,
                        f"Could not override '{key}'. No match in config. To append to your config use +{key}=...",
                    )
                node[part] = {}
            node = node[part]
        else:
            raise _override_error(
                name, f"Could not override '{key}': '{'.'.join(parts[:i])}' is not a dictionary"
            )
    if not isinstance(node, (dict, list)):
        raise _override_error(
            name, f"Could not override '{key}': '{'.'.join(parts[:-1])}' is not a dictionary"
        )
    return node


def _has(parent: Any, last: str) -> bool:
    if isinstance(parent, list):
        return last.lstrip("-").isdigit() and -len(parent) <= int(last) < len(parent)
    return last in parent


def _get(parent: Any, last: str) -> Any:
    return parent[int(last)] if isinstance(parent, list) else parent[last]


def _delete(parent: Any, last: str) -> None:
    del parent[int(last) if isinstance(parent, list) else last]


def _set(parent: Any, last: str, value: Any, name: str, key: str) -> None:
    if isinstance(parent, list):
        if not _has(parent, last):
            raise _override_error(name, f"Could not override '{key}': list index {last} out of range")
        parent[int(last)] = value
    else:
        parent[last] = value


def apply_overrides(
    path: str | os.PathLike[str], overrides: Iterable[str], *, name: str | None = None
) -> None:
    """Edit a params file in place with ``exp run -S`` overrides, keeping its format and comments."""
    label = name if name is not None else os.fspath(path)
    data = load_file(path, name=label)
    dump_file(path, apply_overrides_to(data, overrides, name=label))
