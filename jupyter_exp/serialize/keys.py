"""Key paths into nested params: ``train.lr``, ``layers[0]``; flattening for tables and diffs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_INDEX = re.compile(r"\[([^\]]*)\]")


def split_key(path: str) -> list[str]:
    """``"a.b[0].c"`` -> ``["a", "b", "0", "c"]`` (brackets and dots are interchangeable, as in DVC)."""
    return [part for part in _INDEX.sub(r".\1", path).split(".") if part != ""]


def flatten(d: Mapping[str, Any], sep: str = ".") -> dict[str, Any]:
    """Nested dicts -> ``{"a.b": value}``; lists stay whole values (the shape ``params diff`` shows)."""
    out: dict[str, Any] = {}

    def walk(prefix: str, node: Mapping[str, Any]) -> None:
        for key, value in node.items():
            full = f"{prefix}{sep}{key}" if prefix else str(key)
            if isinstance(value, Mapping) and value:
                walk(full, value)
            else:
                out[full] = value

    walk("", d)
    return out


_MISSING = object()


def get_path(d: Any, path: str | Iterable[str], default: Any = _MISSING) -> Any:
    """Value at a dotted/indexed path (``"a.b[0].c"``); ``KeyError`` naming the path when absent."""
    parts = split_key(path) if isinstance(path, str) else list(path)
    node = d
    for part in parts:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            if default is not _MISSING:
                return default
            raise KeyError(path if isinstance(path, str) else ".".join(parts)) from None
    return node
