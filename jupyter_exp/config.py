"""Read and edit ``.dvc/config`` and ``.dvc/config.local`` (DVC's INI dialect).

DVC writes named sections as ``['remote "storage"']``; we read those into ``config["remote"]["storage"]``
so ``dvc`` and jupyter-exp share one configuration. Editing is line-based so that comments and
sections we do not know survive.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from jupyter_exp.errors import YAMLFileError
from jupyter_exp.fsutil import atomic_write_text

CONFIG_FILES = (".dvc/config", ".dvc/config.local")  # later files override earlier ones
CACHE_TYPES = ("reflink", "hardlink", "symlink", "copy")
PARSING_CHOICES = {"bool": ("store_true", "boolean_optional"), "list": ("nargs", "append")}
NAMED_SECTIONS = ("remote", "machine", "db")

_SECTION = re.compile(r"""^\s*\[\s*(?P<quote>['"]?)(?P<name>.+?)(?P=quote)\s*\]\s*$""")
_NAMED = re.compile(r"""^(?P<kind>\w+)\s+"(?P<name>[^"]+)"$""")
_KEY = re.compile(r"^\s*(?P<key>[^=#;\[\s][^=]*?)\s*=\s*(?P<value>.*?)\s*$")


def _defaults() -> dict[str, Any]:
    return {
        "core": {},
        "cache": {"type": ["reflink", "copy"], "dir": ".dvc/cache"},
        "parsing": {"bool": "store_true", "list": "nargs"},
        "remote": {},
    }


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    for marker in (" #", " ;"):
        if marker in value:
            value = value.split(marker, 1)[0].rstrip()
    return value


def _parse(text: str, name: str) -> dict[str, dict[str, Any]]:
    """INI text -> ``{"core": {...}, "remote": {"storage": {...}}}`` with raw string values."""
    sections: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        header = _SECTION.match(line)
        if header:
            section = header["name"].strip()
            named = _NAMED.match(section)
            if named:
                group = sections.setdefault(named["kind"], {})
                current = group.setdefault(named["name"], {})
            else:
                current = sections.setdefault(section, {})
            continue
        pair = _KEY.match(line)
        if not pair or current is None:
            raise YAMLFileError(f"'{name}' is invalid: cannot parse line {lineno}: {stripped!r}")
        current[pair["key"]] = _unquote(pair["value"])
    return sections


def _merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _validate(config: dict[str, Any]) -> None:
    types = config["cache"]["type"]
    if isinstance(types, str):
        types = [part.strip() for part in types.split(",") if part.strip()]
    bad = [t for t in types if t not in CACHE_TYPES]
    if bad or not types:
        raise YAMLFileError(
            f"'.dvc/config' is invalid: 'cache.type' must be a comma list of {', '.join(CACHE_TYPES)}, "
            f"got '{','.join(bad) or types}'"
        )
    config["cache"]["type"] = types
    for key, choices in PARSING_CHOICES.items():
        if config["parsing"][key] not in choices:
            raise YAMLFileError(
                f"'.dvc/config' is invalid: 'parsing.{key}' must be one of {', '.join(choices)}, "
                f"got '{config['parsing'][key]}'"
            )


def load_config(root: str | os.PathLike[str]) -> dict[str, Any]:
    """The merged configuration of the repository at ``root`` (``config.local`` wins).

    ``cache.dir`` comes back relative to ``root`` (POSIX) or absolute: DVC resolves a relative
    ``dir`` against ``.dvc/``, where the config file lives.
    """
    root = Path(root)
    config = _defaults()
    for relname in CONFIG_FILES:
        path = root / relname
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        parsed = _parse(text, relname)
        cache_dir = parsed.get("cache", {}).get("dir")
        if cache_dir and not os.path.isabs(cache_dir):
            resolved = os.path.normpath(os.path.join(".dvc", cache_dir))
            parsed["cache"]["dir"] = Path(resolved).as_posix()
        _merge(config, parsed)
    _validate(config)
    return config


def _section_header(section: str) -> str:
    """``"remote.storage"`` / ``'remote "storage"'`` -> ``['remote "storage"']``; ``core`` -> ``[core]``."""
    kind, _, name = section.partition(".")
    named = _NAMED.match(section)
    if named:
        kind, name = named["kind"], named["name"]
    if name and kind in NAMED_SECTIONS:
        return f"['{kind} \"{name}\"']"
    return f"[{section}]"


def write_config(
    root: str | os.PathLike[str], section: str, key: str, value: str | None, *, local: bool = False
) -> None:
    """Set (or with ``value=None`` remove) one key in ``.dvc/config`` (``config.local`` when ``local``).

    ``section`` is ``core``, ``cache``, ``parsing``, or ``remote.<name>`` for a named remote.
    """
    path = Path(root) / CONFIG_FILES[1 if local else 0]
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    wanted = _section_header(section)
    start = next((i for i, line in enumerate(lines) if _same_header(line, wanted)), None)
    if start is None:
        if value is None:
            return
        if lines and lines[-1].strip():
            lines.append("")
        lines += [wanted, f"    {key} = {value}"]
    else:
        end = next((i for i in range(start + 1, len(lines)) if _SECTION.match(lines[i])), len(lines))
        found = next(
            (i for i in range(start + 1, end) if (m := _KEY.match(lines[i])) and m["key"] == key),
            None,
        )
        if found is not None and value is None:
            del lines[found]
        elif found is not None:
            lines[found] = f"    {key} = {value}"
        elif value is not None:
            insert_at = end
            while insert_at > start + 1 and not lines[insert_at - 1].strip():
                insert_at -= 1
            lines.insert(insert_at, f"    {key} = {value}")
    atomic_write_text(path, "\n".join(lines) + "\n")


def _same_header(line: str, wanted: str) -> bool:
    got, want = _SECTION.match(line), _SECTION.match(wanted)
    return bool(got and want and re.sub(r"\s+", " ", got["name"]) == want["name"])
