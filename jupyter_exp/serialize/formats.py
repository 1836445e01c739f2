"""Params/vars/metrics file formats (YAML, JSON, TOML, Python): parse and write them the way DVC does.

Reading is on every hot path (templating, ``params show``, ``exp show``), so it uses the C YAML
loader and imports parsers lazily. Writing serves ``exp run -S``: it keeps the file's format and,
for YAML and Python, the user's comments and layout, so an experiment's diff shows only the values.
"""

from __future__ import annotations

import functools
import json
import os
import posixpath
import re
from collections.abc import Mapping
from typing import Any

from jupyter_exp.errors import YAMLFileError
from jupyter_exp.fsutil import TreeReader, atomic_write_text
from jupyter_exp.serialize.keys import flatten
from jupyter_exp.serialize.plainyaml import parse_plain
from jupyter_exp.serialize.pyparams import dump_py, parse_py

YAML_SUFFIXES = (".yaml", ".yml")
SUFFIXES = (*YAML_SUFFIXES, ".json", ".toml", ".py")


@functools.lru_cache(maxsize=256)
def _suffix(name: str) -> str:
    suffix = posixpath.splitext(str(name))[1].lower()
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
    plain = parse_plain(text)
    if plain is not None:
        return plain
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


_PARSERS = {
    ".yaml": _parse_yaml,
    ".yml": _parse_yaml,
    ".json": _parse_json,
    ".toml": _parse_toml,
    ".py": parse_py,
}


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
        text = dump_py(name, data)
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
