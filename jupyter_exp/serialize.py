"""Read and write params/vars/metrics files (YAML, JSON, TOML, Python) the way DVC does.

Reading is on every hot path (templating, ``params show``, ``exp show``), so it uses the C YAML
loader and imports parsers lazily. Writing serves ``exp run -S``: it keeps the file's format and,
for YAML and Python, the user's comments and layout, so an experiment's diff shows only the values.
"""

from __future__ import annotations

import ast
import copy
import functools
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any

from jupyter_exp.errors import YAMLFileError
from jupyter_exp.fsutil import TreeReader, atomic_write_text

YAML_SUFFIXES = (".yaml", ".yml")
SUFFIXES = (*YAML_SUFFIXES, ".json", ".toml", ".py")


def _suffix(name: str) -> str:
    suffix = PurePosixPath(str(name)).suffix.lower()
    return suffix if suffix in SUFFIXES else ".yaml"  # DVC parses unknown extensions as YAML


def _unable(name: str, message: str) -> YAMLFileError:
    return YAMLFileError(f"unable to read: '{name}', {message}")


# ---------------------------------------------------------------------------------------------- reading


def load_file(path_or_bytes: str | os.PathLike[str] | bytes, *, name: str | None = None) -> dict[str, Any]:
    """Parse a params/vars/metrics file into a dict; ``name`` (its path) picks the parser and labels errors."""
    if isinstance(path_or_bytes, bytes):
        if name is None:
            raise TypeError("load_file(bytes) needs name= to choose a parser")
        data = path_or_bytes
    else:
        name = name if name is not None else os.fspath(path_or_bytes)
        try:
            with open(path_or_bytes, "rb") as fobj:
                data = fobj.read()
        except FileNotFoundError:
            raise YAMLFileError(f"'{name}' does not exist") from None
        except IsADirectoryError:
            raise YAMLFileError(f"'{name}' is a directory") from None
    parsed = parse_bytes(data, name=name)
    if parsed is None:
        return {}
    if not isinstance(parsed, Mapping):
        raise YAMLFileError(f"expected a dictionary, got '{type(parsed).__name__}' in file '{name}'")
    return dict(parsed)


MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_EXPANDED_VALUES = 1_000_000


def parse_bytes(data: bytes, *, name: str) -> Any:
    """The file's top-level value, whatever its type (``None`` for an empty file)."""
    if len(data) > MAX_FILE_BYTES:
        raise _unable(
            name,
            f"it is {len(data) / 1e6:.0f} MB: params, metrics and pipeline files are read whole by every "
            f"command, so they may be at most {MAX_FILE_BYTES // 2**20} MB (keep data in a tracked output)",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _unable(name, "is not valid utf-8") from None
    return _PARSERS[_suffix(name)](text, name)


def load_from(tree: TreeReader, relpath: str) -> dict[str, Any]:
    """:func:`load_file` for a file in a :class:`TreeReader` (workspace or a Git revision)."""
    if not tree.exists(relpath):
        raise YAMLFileError(f"'{relpath}' does not exist")
    if tree.isdir(relpath):
        raise YAMLFileError(f"'{relpath}' is a directory")
    return load_file(tree.read_bytes(relpath), name=relpath)


@functools.cache
def yaml_loader() -> Any:
    """PyYAML's fast C loader with YAML 1.2 scalars, as DVC's ruamel reads them: ``1e-3`` is a
    float, ``yes``/``on`` are strings, ``010`` is ten and ``0o10`` eight, ``12:30`` a string."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    retagged = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}

    class Yaml12Loader(base):  # type: ignore[misc, valid-type]
        pass

    Yaml12Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in retagged]
        for first, resolvers in base.yaml_implicit_resolvers.items()
    }
    Yaml12Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    Yaml12Loader.add_implicit_resolver(
        "tag:yaml.org,2002:int",
        re.compile(r"^(?:[-+]?[0-9][0-9_]*|0o[0-7_]+|0x[0-9a-fA-F_]+)$"),
        list("-+0123456789"),
    )
    Yaml12Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(
            r"^(?:[-+]?(?:\.[0-9][0-9_]*|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        list("-+.0123456789"),
    )

    def construct_int(loader: Any, node: Any) -> int:
        text = loader.construct_scalar(node).replace("_", "")
        if text.startswith(("0o", "0x")):
            return int(text[2:], 8 if text[1] == "o" else 16)
        return int(text, 10)

    def construct_mapping(loader: Any, node: Any, deep: bool = False) -> Any:
        """DVC (ruamel) refuses a key given twice; PyYAML would silently keep the last one."""
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _value in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f'found duplicate key "{key_node.value}"', key_node.start_mark
                    )
                seen.add(key)
        return base.construct_mapping(loader, node, deep)

    Yaml12Loader.add_constructor("tag:yaml.org,2002:int", construct_int)
    Yaml12Loader.construct_mapping = construct_mapping  # type: ignore[method-assign]
    return Yaml12Loader


def _parse_yaml(text: str, name: str) -> Any:
    import yaml

    try:
        data = yaml.load(text, Loader=yaml_loader())  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" in line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "syntax error"
        raise _unable(name, f"YAML file structure is corrupted: {problem}{where}") from None
    except yaml.YAMLError as exc:
        raise _unable(name, f"YAML file structure is corrupted: {exc}") from None
    except RecursionError:
        raise _unable(name, "it is nested too deeply to read") from None
    if "*" in text and "&" in text:
        try:
            size = _expanded_size(data, {})
        except (ValueError, RecursionError):
            raise _unable(name, "an alias refers to a value that contains it") from None
        if size > MAX_EXPANDED_VALUES:
            raise _unable(name, f"its aliases expand to more than {MAX_EXPANDED_VALUES:,} values (an alias bomb?)")
    return data


def _expanded_size(node: Any, sizes: dict[int, int]) -> int:
    """How many values ``node`` has once every alias is expanded; counted once per shared object, and a
    ``ValueError`` for an alias inside its own anchor (every later walk would loop forever)."""
    if not isinstance(node, (dict, list)):
        return 1
    known = sizes.get(id(node))
    if known == -1:
        raise ValueError("cyclic")
    if known is None:
        sizes[id(node)] = -1
        children = node.values() if isinstance(node, dict) else node
        known = sizes[id(node)] = 1 + sum(_expanded_size(child, sizes) for child in children)
    return known


def _parse_json(text: str, name: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except json.JSONDecodeError as exc:
        raise _unable(name, f"JSON file structure is corrupted: {exc.msg} in line {exc.lineno}") from None


def _parse_toml(text: str, name: str) -> Any:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _unable(name, f"TOML file structure is corrupted: {exc}") from None


def _parse_py(text: str, name: str) -> Any:
    try:
        tree = ast.parse(text, filename=name)
    except SyntaxError as exc:
        raise _unable(name, f"Python file structure is corrupted: {exc.msg} in line {exc.lineno}") from None
    return {key: value for key, (value, _node) in _py_namespace(tree.body).items()}


_PARSERS = {
    ".yaml": _parse_yaml,
    ".yml": _parse_yaml,
    ".json": _parse_json,
    ".toml": _parse_toml,
    ".py": _parse_py,
}


def _py_namespace(body: list[ast.stmt], *, self_only: bool = False) -> dict[str, tuple[Any, ast.AST]]:
    """Params of a module or class body: literal assignments, classes as nested dicts, and the
    ``self.x = literal`` lines of ``__init__``, as DVC reads them. Non-literals are skipped, never run."""
    found: dict[str, tuple[Any, ast.AST]] = {}
    for stmt in body:
        if isinstance(stmt, ast.ClassDef) and not self_only:
            found[stmt.name] = ({k: v for k, (v, _n) in _py_namespace(stmt.body).items()}, stmt)
        elif isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__" and not self_only:
            found.update(_py_namespace(stmt.body, self_only=True))
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if len(targets) != 1:
                continue
            key = _py_target_name(targets[0], self_only)
            if key is None:
                continue
            try:
                found[key] = (ast.literal_eval(stmt.value), stmt)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
    return found


def _py_target_name(target: ast.expr, self_only: bool) -> str | None:
    if isinstance(target, ast.Name) and not self_only:
        return target.id
    if (
        self_only
        and isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id == "self"
    ):
        return target.attr
    return None


# ------------------------------------------------------------------------------------------- key paths

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


# ---------------------------------------------------------------------------------------------- writing


def _ruamel() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.width = 4096  # never fold long strings (commands, paths)
    return yaml


def load_roundtrip(path: str | os.PathLike[str]) -> Any:
    """Load YAML keeping comments and key order (ruamel ``CommentedMap``), for an edit-and-dump cycle."""
    from ruamel.yaml import YAMLError

    name = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fobj:
            data = _ruamel().load(fobj)
    except FileNotFoundError:
        raise YAMLFileError(f"'{name}' does not exist") from None
    except YAMLError as exc:
        raise _unable(name, f"YAML file structure is corrupted: {exc}") from None
    if data is None:
        from ruamel.yaml.comments import CommentedMap

        return CommentedMap()
    return data


def _merge_into(dest: Any, src: Any) -> Any:
    """Make ``dest`` (possibly a ruamel node) equal to ``src`` while reusing its nodes, so that
    comments and order attached to unchanged keys survive. Returns the value to store."""
    if isinstance(dest, Mapping) and isinstance(src, Mapping) and hasattr(dest, "__delitem__"):
        for key in [k for k in dest if k not in src]:
            del dest[key]
        for key, value in src.items():
            dest[key] = _merge_into(dest[key], value) if key in dest else value
        return dest
    if isinstance(dest, list) and isinstance(src, list) and len(dest) == len(src):
        for i, value in enumerate(src):
            dest[i] = _merge_into(dest[i], value)
        return dest
    if type(dest) is type(src) and dest == src:
        return dest  # keeps the ruamel scalar (and its quoting style)
    return src


def dump_file(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    """Write ``data`` atomically in the format the extension names, keeping an existing YAML or
    Python file's comments and layout for the keys that did not change."""
    name = os.fspath(path)
    suffix = _suffix(name)
    if suffix in YAML_SUFFIXES:
        text = _dump_yaml(path, data)
    elif suffix == ".json":
        text = json.dumps(data, indent=4) + "\n"
    elif suffix == ".toml":
        import tomli_w

        text = tomli_w.dumps(_plain(data))
    else:
        text = _dump_py(name, data)
    atomic_write_text(path, text)


_SCALARS = (str, int, float, bool, type(None))
_YAML_KEY_LINE = re.compile(
    r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):(?P<gap> *)(?P<value>[^#\n]*?)(?P<rest> *#.*)?$"
)


def _yaml_scalar(value: Any) -> str:
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, width=1 << 30).removesuffix("\n...\n").strip()


def _edit_yaml_scalars(text: str, new: Mapping[str, Any]) -> str | None:
    """``text`` with changed scalar values rewritten in place, or None when the change is not that simple.

    `exp run -S a.b=1` changes one scalar of a block-style file; a line edit keeps every comment and
    byte around it and is ~20x cheaper than a round trip through ruamel. The result is re-parsed and
    must equal ``new``, else the caller takes the general (ruamel) path.
    """
    import yaml

    old = yaml.load(text, Loader=yaml_loader())  # noqa: S506 - a safe loader
    old_flat, new_flat = flatten(old or {}), flatten(new)
    if set(old_flat) != set(new_flat):
        return None
    changed = {k: v for k, v in new_flat.items() if old_flat[k] != v or type(old_flat[k]) is not type(v)}
    if not all(isinstance(v, _SCALARS) and isinstance(old_flat[k], _SCALARS) for k, v in changed.items()):
        return None
    lines = text.split("\n")
    stack: list[tuple[int, str]] = []  # (indent, key) of the mappings enclosing the current line
    for i, line in enumerate(lines):
        match = _YAML_KEY_LINE.match(line)
        if match is None:
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = ".".join([k for _, k in stack] + [match["key"]])
        if key in changed and match["value"]:
            lines[i] = (
                f"{match['indent']}{match['key']}:{match['gap']}{_yaml_scalar(changed[key])}{match['rest'] or ''}"
            )
        elif not match["value"]:
            stack.append((indent, match["key"]))
    edited = "\n".join(lines)
    return edited if yaml.load(edited, Loader=yaml_loader()) == new else None  # noqa: S506


def _dump_yaml(path: str | os.PathLike[str], data: Mapping[str, Any]) -> str:
    import io

    if os.path.exists(path) and isinstance(data, dict):
        with open(path, encoding="utf-8") as fobj:
            edited = _edit_yaml_scalars(fobj.read(), data)
        if edited is not None:
            return edited

    from ruamel.yaml.comments import CommentedBase

    if not isinstance(data, CommentedBase) and os.path.exists(path):
        data = _merge_into(load_roundtrip(path), _plain(data))
    elif not isinstance(data, CommentedBase):
        data = _plain(data)
    stream = io.StringIO()
    _ruamel().dump(data, stream)
    return stream.getvalue()


def _plain(data: Any) -> Any:
    """Plain dicts/lists (ruamel and tomli_w refuse some Mapping subclasses)."""
    if isinstance(data, Mapping):
        return {key: _plain(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_plain(value) for value in data]
    return data


# Python params: rewrite only the literals whose values changed, located through ``ast`` positions.


class _PySource:
    """A Python source with byte-offset edits (``ast`` columns are UTF-8 byte offsets)."""

    def __init__(self, text: str) -> None:
        self.raw = text.encode("utf-8")
        self.line_starts = [0]
        for line in self.raw.splitlines(keepends=True):
            self.line_starts.append(self.line_starts[-1] + len(line))
        self.edits: list[tuple[int, int, str]] = []

    def offset(self, lineno: int, col: int) -> int:
        return self.line_starts[lineno - 1] + col

    def replace(self, node: ast.AST, text: str) -> None:
        start = self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end = self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
        self.edits.append((start, end, text))

    def delete_lines(self, node: ast.AST) -> None:
        start = self.line_starts[node.lineno - 1]  # type: ignore[attr-defined]
        self.edits.append((start, self.line_starts[node.end_lineno], ""))  # type: ignore[attr-defined]

    def insert_after(self, node: ast.AST | None, text: str) -> None:
        pos = len(self.raw) if node is None else self.line_starts[node.end_lineno]  # type: ignore[attr-defined]
        if pos == len(self.raw) and self.raw and not self.raw.endswith(b"\n"):
            text = "\n" + text
        self.edits.append((pos, pos, text))

    def render(self) -> str:
        out = self.raw
        # Back to front, so earlier offsets stay valid; inserts at one spot keep their call order.
        ordered = sorted(enumerate(self.edits), key=lambda e: (e[1][0], e[1][1], e[0]), reverse=True)
        for _seq, (start, end, text) in ordered:
            out = out[:start] + text.encode("utf-8") + out[end:]
        return out.decode("utf-8")


def _dump_py(name: str, data: Mapping[str, Any]) -> str:
    if not os.path.exists(name):
        return "".join(f"{key} = {value!r}\n" for key, value in data.items())
    with open(name, encoding="utf-8") as fobj:
        text = fobj.read()
    tree = ast.parse(text, filename=name)
    source = _PySource(text)
    _py_update_body(source, tree.body, _py_namespace(tree.body), dict(data), indent="")
    new_text = source.render()
    try:
        ast.parse(new_text)
    except SyntaxError:
        raise YAMLFileError(f"'{name}': Python file structure is corrupted after updating params") from None
    return new_text


def _py_update_body(
    source: _PySource,
    body: list[ast.stmt],
    found: dict[str, tuple[Any, ast.AST]],
    new: dict[str, Any],
    indent: str,
) -> None:
    for key, (old_value, node) in found.items():
        if key not in new:
            source.delete_lines(node)
        elif isinstance(node, ast.ClassDef):
            if isinstance(new[key], Mapping):
                inner_indent = " " * node.body[0].col_offset
                _py_update_body(source, node.body, _py_namespace(node.body), dict(new[key]), inner_indent)
            else:
                source.delete_lines(node)
                source.insert_after(body[-1], f"{indent}{key} = {new[key]!r}\n")
        elif new[key] != old_value or type(new[key]) is not type(old_value):
            _py_replace_literal(source, node.value, old_value, new[key])  # type: ignore[attr-defined]
    added = [key for key in new if key not in found]
    if added:
        lines = "".join(f"{indent}{key} = {new[key]!r}\n" for key in added)
        source.insert_after(body[-1] if body else None, lines)


def _py_replace_literal(source: _PySource, node: ast.expr, old: Any, new: Any) -> None:
    """Replace the smallest literal sub-expressions that changed, to keep the rest as written."""
    if (
        isinstance(node, ast.Dict)
        and isinstance(old, dict)
        and isinstance(new, dict)
        and old.keys() == new.keys()
    ):
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            key = ast.literal_eval(key_node) if key_node is not None else None
            if key in new and new[key] != old[key]:
                _py_replace_literal(source, value_node, old[key], new[key])
        return
    if (
        isinstance(node, (ast.List, ast.Tuple))
        and isinstance(old, (list, tuple))
        and isinstance(new, (list, tuple))
        and len(old) == len(new)
        and len(node.elts) == len(old)
    ):
        for elt, old_item, new_item in zip(node.elts, old, new, strict=True):
            if old_item != new_item or type(old_item) is not type(new_item):
                _py_replace_literal(source, elt, old_item, new_item)
        return
    if isinstance(old, tuple) and isinstance(new, list):
        new = tuple(new)
    source.replace(node, repr(new))


# -------------------------------------------------------------------------------- override grammar

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
