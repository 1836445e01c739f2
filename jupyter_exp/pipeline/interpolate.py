"""``${...}`` expressions and the variables they read, with DVC 3's rules and error messages.

:class:`Context` holds the merged variables (``params.yaml``, ``vars`` files and mappings) and
remembers which file each value came from, so that redefinitions are reported the way DVC does
and the values a stage used from params files can be recorded.
"""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

KEYCRE = re.compile(r"(?<!\\)\$\{(?P<inner>.*?)\}")  # \${ escapes a literal ${
PRIMITIVES = (int, float, str, bytes, bool)
_NOT_IN_WORD = ".[]"


class ContextError(Exception):
    """A variable could not be loaded, merged or found; the caller adds where it happened."""

    multiline = False  # DVC prints some causes on their own line after the "failed to parse" preamble


class ParseError(ContextError):
    multiline = True


class MergeError(ContextError):
    multiline = True


class VarsAlreadyLoaded(ContextError):
    multiline = True


class KeyNotInContext(ContextError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"Could not find '{key}'")


class ReservedKeyError(ContextError):
    def __init__(self, keys: list[str], source: str | None = None) -> None:
        noun = "keys" if len(keys) > 1 else "key"
        msg = f"attempted to modify reserved {noun} {humanize_join(keys)}"
        super().__init__(msg + (f" in '{source}'" if source else ""))


def humanize_join(words: list[str]) -> str:
    """``["a", "b", "c"]`` -> ``"a, b and c"``."""
    return f"{', '.join(words[:-1])} and {words[-1]}" if len(words) > 1 else "".join(words)


# ---------------------------------------------------------------------------------------- expressions


@lru_cache(maxsize=4096)
def parse_expr(expr: str) -> str:
    """Validate ``a.b[0].c`` and normalise it to ``a.b.0.c``; errors read like DVC's (pyparsing's)."""
    parts: list[str] = []
    pos, end = 0, len(expr)

    def word(start: int) -> int:
        stop = start
        while stop < end and expr[stop] not in _NOT_IN_WORD:
            stop += 1
        return stop

    stop = word(0)
    if stop == 0:
        found = f"'{expr[0]}'" if expr else "end of text"
        _raise_parse(expr, 0, f"Expected W:(^{_NOT_IN_WORD}), found {found}")
    parts.append(expr[:stop].strip())
    pos = stop
    while pos < end:
        if expr[pos] == "." and (stop := word(pos + 1)) > pos + 1:
            parts.append(expr[pos + 1 : stop].strip())
            pos = stop
        elif expr[pos] == "[" and (stop := word(pos + 1)) > pos + 1 and stop < end and expr[stop] == "]":
            parts.append(expr[pos + 1 : stop].strip())
            pos = stop + 1
        else:
            break
    if pos != end:
        _raise_parse(expr, pos, f"Expected end of text, found '{expr[pos]}'")
    return ".".join(parts)


def _raise_parse(expr: str, pos: int, message: str) -> None:
    loc = pos + 2  # counted from the "${" DVC shows in front of the expression
    pointer = " " * loc + "^"
    raise ParseError(
        f"${{{expr}}}\n{pointer}\nParseException: {message}  (at char {loc}), (line:1, col:{loc + 1})"
    )


_OPENING = re.compile(r"(?<!\\)\$\{")


def check_expressions(text: str) -> None:
    """Raise :class:`ParseError` for the first malformed ``${...}`` in ``text``, an unterminated one too
    (DVC passes ``${lr`` on to the shell, which fails only after the stage's outputs were removed)."""
    if "${" not in text:
        return
    starts = set()
    for match in KEYCRE.finditer(text):
        _expression(match)
        starts.add(match.start())
    for opening in _OPENING.finditer(text):
        if opening.start() not in starts:
            raise ParseError(f"{text}\n{' ' * opening.start()}^\nunterminated '${{': it has no closing '}}'")


def _expression(match: re.Match[str]) -> str:
    inner = match["inner"]
    if "${" in inner:
        raise ParseError(f"{match[0]}}}\nnested interpolation is not supported")
    return parse_expr(inner)


def is_interpolated(value: Any) -> bool:
    return isinstance(value, str) and KEYCRE.search(value) is not None


def walk_strings(data: Any, func: Any) -> Any:
    """Apply ``func`` to every string in nested dicts/lists, dict keys included (as DVC does)."""
    if isinstance(data, Mapping):
        return {walk_strings(k, func): walk_strings(v, func) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [walk_strings(v, func) for v in data]
    if isinstance(data, str):
        return func(data)
    return data


def check_recursive(data: Any) -> None:
    walk_strings(data, check_expressions)


# ------------------------------------------------------------------------------------------ rendering


def to_str(value: Any, config: Mapping[str, str] | None = None) -> str:
    """How a value renders inside a string: ``true``/``false``, ``str()`` for the rest, and dicts
    (only allowed in ``cmd``) as ``--key value`` flags following ``parsing.bool``/``parsing.list``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return _dict_to_flags(value, config or {})
    return str(value)


def _flat(d: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in d.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            yield from _flat(value, full)
        else:
            yield full, value


def _dict_to_flags(d: Mapping[str, Any], config: Mapping[str, str]) -> str:
    boolean_optional = config.get("bool", "store_true") == "boolean_optional"
    append = config.get("list", "nargs") == "append"
    words: list[str] = []
    for key, value in _flat(d):
        if isinstance(value, bool):
            if value:
                words.append(f"--{key}")
            elif boolean_optional:
                words.append(f"--no-{key}")
        elif isinstance(value, str):
            words += [f"--{key}", shlex.quote(value)]
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if isinstance(item, (list, tuple, Mapping)):
                    raise ParseError(f"Cannot interpolate nested iterable in '{key}'")
                text = shlex.quote(item) if isinstance(item, str) else to_str(item)
                words += [f"--{key}", text] if append or i == 0 else [text]
        else:
            words += [f"--{key}", str(value)]
    return " ".join(words)


def validate_value(value: Any, key: str | None) -> None:
    """DVC lets only primitives be interpolated into stage fields; a dict is allowed in ``cmd``."""
    if value is None or isinstance(value, PRIMITIVES) or key is None or "foreach" in key:
        return
    if isinstance(value, dict) and key == "cmd":
        return
    raise ParseError(f"Cannot interpolate data of type '{type(value).__name__}'")


# -------------------------------------------------------------------------------------------- context


class Context:
    """Merged variables plus where each came from.

    ``sources`` maps a key path (tuple) to ``(label, is_file)`` at the point where a value was
    merged in; the source of any nested key is that of its nearest recorded ancestor.
    """

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.sources: dict[tuple[str, ...], tuple[str, bool]] = {}
        self.imports: dict[str, list[str] | None] = {}  # file -> keys loaded (None: whole file)
        self.reserved: tuple[str, ...] = ()
        self.tracked: dict[str, dict[str, Any]] | None = None
        # ``item``/``item.<name>`` -> the path it was taken from, so uses are tracked at the origin
        self.aliases: dict[tuple[str, ...], tuple[str, ...]] = {}

    def clone(self) -> Context:
        new = Context()
        new.data = copy.deepcopy(self.data)
        new.sources = dict(self.sources)
        new.imports = {k: (list(v) if v is not None else None) for k, v in self.imports.items()}
        new.reserved = self.reserved
        new.aliases = dict(self.aliases)
        return new

    def with_locals(
        self, values: dict[str, Any], aliases: dict[tuple[str, ...], tuple[str, ...]] | None = None
    ) -> Context:
        """A shallow child holding ``item``/``key`` (reserved: stage ``vars`` may not redefine them)."""
        new = Context()
        new.data = {**self.data, **values}
        new.sources = {**self.sources, **{(k,): ("<local>", False) for k in values}}
        new.imports = self.imports
        new.reserved = tuple(values)
        new.aliases = aliases or {}
        return new

    def _origin(self, parts: tuple[str, ...]) -> tuple[str, ...]:
        for i in range(len(parts), 0, -1):
            origin = self.aliases.get(parts[:i])
            if origin is not None:
                return origin + parts[i:]
        return parts

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def source_of(self, path: tuple[str, ...]) -> tuple[str, bool]:
        for i in range(len(path), 0, -1):
            found = self.sources.get(path[:i])
            if found:
                return found
        return ("<local>", False)

    def merge(self, data: Mapping[str, Any], source: str, *, is_file: bool) -> None:
        """Merge ``data`` in; an existing leaf may not be redefined (DVC's ``MergeError``)."""
        clashes = [key for key in self.reserved if key in data]
        if clashes:
            raise ReservedKeyError(clashes)
        self._merge(self.data, data, (), source, is_file)

    def _merge(
        self,
        into: dict[str, Any],
        update: Mapping[str, Any],
        path: tuple[str, ...],
        source: str,
        is_file: bool,
    ) -> None:
        for key, value in update.items():
            if not isinstance(key, str):
                continue  # DVC cannot address non-string keys either
            here = (*path, key)
            if isinstance(into.get(key), dict) and isinstance(value, Mapping):
                self._merge(into[key], value, here, source, is_file)
                continue
            if key in into:
                existing = self.source_of(here)[0]
                raise MergeError(
                    f"cannot redefine '{'.'.join(here)}' from '{source}' as it already exists in '{existing}'"
                )
            into[key] = copy.deepcopy(value) if isinstance(value, (dict, list)) else value
            self.sources[here] = (source, is_file)

    def select(self, expr: str) -> Any:
        """Value at a normalised path (``a.b.0``); records it when it came from a params file."""
        node: Any = self.data
        parts = tuple(expr.split("."))
        for part in parts:
            try:
                if isinstance(node, Mapping):
                    node = node[part]
                elif isinstance(node, (list, tuple)):
                    node = node[int(part)]
                else:
                    raise KeyNotInContext(expr)
            except (KeyError, IndexError, ValueError):
                raise KeyNotInContext(expr) from None
        if self.tracked is not None and not isinstance(node, Mapping):
            origin = self._origin(parts)
            label, is_file = self.source_of(origin)
            if is_file:
                self.tracked.setdefault(label, {})[".".join(origin)] = node
        return node

    def resolve(self, data: Any, *, key: str | None = None, config: Mapping[str, str] | None = None) -> Any:
        """Interpolate every string in ``data`` (dict keys too); ``key`` is the stage field for checks."""
        return walk_strings(data, lambda text: self.resolve_str(text, key=key, config=config))

    def resolve_str(
        self, text: str, *, key: str | None = None, config: Mapping[str, str] | None = None
    ) -> Any:
        """``"${x}"`` keeps ``x``'s type; anything else is a string with each ``${...}`` rendered."""
        if "${" not in text:
            return text
        matches = list(KEYCRE.finditer(text))
        if len(matches) == 1 and matches[0][0] == text:
            value = self.select(_expression(matches[0]))
            validate_value(value, key)
            return value
        out, index = [], 0
        quotes = _ShellQuotes() if key == "cmd" else None
        for match in matches:
            value = self.select(_expression(match))
            validate_value(value, key)
            literal = text[index : match.start()]
            rendered = to_str(value, config)
            if quotes is not None:
                quotes.scan(literal)
                if not isinstance(value, dict):  # flags from a dict are quoted word by word already
                    rendered = quotes.word(rendered)
            out += [literal, rendered]
            index = match.end()
        out.append(text[index:])
        return "".join(out).replace("\\${", "${")


class _ShellQuotes:
    """Where a ``${...}`` sits in a POSIX shell command (unquoted, in '...' or in "..."), so its value can be
    made exactly one word there: a params value is data, never shell syntax (DVC pastes it verbatim)."""

    def __init__(self) -> None:
        self.state = ""  # "", "'" or '"'
        self.escaped = False

    def scan(self, literal: str) -> None:
        for char in literal:
            if self.escaped:
                self.escaped = False
            elif self.state == "'":
                if char == "'":
                    self.state = ""
            elif char == "\\":
                self.escaped = True
            elif self.state == '"':
                if char == '"':
                    self.state = ""
            elif char in "'\"":
                self.state = char

    def word(self, value: str) -> str:
        if self.state == "'":
            return value.replace("'", "'\\''")
        if self.state == '"':
            return re.sub(r'([\\"$`])', r"\\\1", value)
        return shlex.quote(value)
