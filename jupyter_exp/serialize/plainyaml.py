"""The plainest YAML (nested ``key: value`` mappings of plain scalars) read without PyYAML's node graph.

A params file is usually just that, and a cold ``exp show`` of 10,000 experiments parses 10,000 of them:
PyYAML's Python constructor was a third of that command. :func:`parse_plain` reads such a file into what
the full loader returns, resolving each scalar with the full loader's resolver table (YAML 1.2 numbers
and booleans), and returns None for anything else (quotes, lists, flow style, anchors, comments after a
value, dates, duplicate keys, tabs): the full loader then reads it, and reports its errors.

That table is written out here (:func:`yaml12_resolvers`; a test checks it equals the loader's), so a
plain file is read without importing PyYAML: its import is ~10 ms of every CLI call that reads one.
"""

from __future__ import annotations

import functools
import re
from typing import Any

_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_.\-]*):(?: +(.*))?\Z")
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
_FAIL = object()
_MEMO: dict[int, dict[str, Any]] = {}  # per resolver table: scalar text -> value
_MEMO_SIZE = 100_000


Resolvers = dict[str, list[tuple[str, re.Pattern[str]]]]


@functools.cache
def yaml12_resolvers() -> Resolvers:
    """``formats.yaml_loader()``'s ``yaml_implicit_resolvers``: PyYAML's, with YAML 1.2 bool/int/float."""
    table: Resolvers = {}
    for tag, pattern, first in (
        ("merge", r"^(?:<<)$", "<"),
        ("null", r"^(?:~|null|Null|NULL|)$", "~nN"),
        ("timestamp", _TIMESTAMP, "0123456789"),
        ("value", r"^(?:=)$", "="),
        ("yaml", r"^(?:!|&|\*)$", "!&*"),
        ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
        ("int", r"^(?:[-+]?[0-9][0-9_]*|0o[0-7_]+|0x[0-9a-fA-F_]+)$", "-+0123456789"),
        ("float", _FLOAT, "-+.0123456789"),
    ):
        flags = re.X if tag == "timestamp" else 0
        entry = (f"tag:yaml.org,2002:{tag}", re.compile(pattern, flags))
        for char in list(first) + ([""] if tag == "null" else []):
            table.setdefault(char, []).append(entry)
    return table


_TIMESTAMP = r"""^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
                    |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
                     (?:[Tt]|[ \t]+)[0-9][0-9]?
                     :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
                     (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$"""
_FLOAT = (
    r"^(?:[-+]?(?:\.[0-9][0-9_]*|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)


def parse_plain(text: str, resolvers: Resolvers | None = None) -> dict[str, Any] | None:
    """The mapping ``text`` holds, or None when it is more than plain nested mappings (see the module).

    ``resolvers``: a loader's ``yaml_implicit_resolvers``; by default :func:`yaml12_resolvers`.
    """
    resolvers = yaml12_resolvers() if resolvers is None else resolvers
    memo = _MEMO.setdefault(id(resolvers), {})
    if len(memo) > _MEMO_SIZE:
        memo.clear()
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(0, root)]
    pending: tuple[int, dict[str, Any], str] | None = None  # "key:" with no value: a mapping or a null
    for line in text.split("\n"):
        stripped = line.strip(" \r")
        if not stripped or stripped[0] == "#":
            continue
        indent = len(line) - len(line.lstrip(" "))
        match = _KEY.match(stripped)
        if match is None or "\t" in line:
            return None
        if pending is not None:
            parent_indent, parent, key = pending
            pending = None
            if indent > parent_indent:  # the first key of a nested mapping
                child: dict[str, Any] = {}
                parent[key] = child
                stack.append((indent, child))
            else:
                parent[key] = None
        while stack and indent < stack[-1][0]:
            stack.pop()
        if not stack or indent != stack[-1][0]:
            return None  # an indent that matches no open mapping
        mapping = stack[-1][1]
        key, raw = match[1], match[2]
        if key in mapping or type(_resolve(key, resolvers, memo)) is not str:
            return None  # a duplicate (the full loader reports it), or a key that is not a string
        if raw is None or not raw.strip():
            pending = (indent, mapping, key)
            mapping[key] = None
            continue
        value = _resolve(raw.rstrip(" \r"), resolvers, memo)
        if value is _FAIL:
            return None
        mapping[key] = value
    return root if root else None


def _resolve(text: str, resolvers: dict[str, list[tuple[str, re.Pattern[str]]]], memo: dict[str, Any]) -> Any:
    """A plain scalar as the full loader would construct it, ``_FAIL`` when it is not one this reads.

    Remembered by text (every value is immutable): a sweep's files repeat the same keys and most values.
    """
    if text in memo:
        return memo[text]
    value = memo[text] = _scalar(text, resolvers)
    return value


def _scalar(text: str, resolvers: dict[str, list[tuple[str, re.Pattern[str]]]]) -> Any:
    if text[0] in _INDICATORS and not (text[0] in "-?:" and len(text) > 1 and text[1] != " "):
        return _FAIL  # "-1" and "-x" are plain scalars; "&a", "'x'", "[1]" are not plain
    if ": " in text or " #" in text or text.endswith(":") or not text.isprintable():
        return _FAIL
    for tag, pattern in resolvers.get(text[0], ()):
        if pattern.match(text):
            return _construct(tag, text)
    return text


def _construct(tag: str, text: str) -> Any:
    kind = tag.rpartition(":")[2]
    if kind == "null":
        return None
    if kind == "bool":
        return text.lower() == "true"
    if kind == "int":
        digits = text.replace("_", "")
        if digits.startswith(("0o", "0x")):
            return int(digits[2:], 8 if digits[1] == "o" else 16)
        return int(digits, 10)
    if kind == "float":
        digits = text.replace("_", "").lower()
        sign = -1.0 if digits[0] == "-" else 1.0
        digits = digits.lstrip("+-")
        if digits == ".inf":
            return sign * float("inf")
        if digits == ".nan":
            return float("nan")
        return sign * float(digits)
    return _FAIL  # timestamps, merge keys and the like: the full loader's
