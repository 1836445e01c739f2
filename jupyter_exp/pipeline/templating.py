"""``dvc.yaml`` -> resolved stages: schema validation, ``vars``, ``${...}``, ``foreach`` and ``matrix``.

Follows DVC 3's parametrization (``dvc/parsing``): ``params.yaml`` beside ``dvc.yaml`` is the
default variables file, ``vars`` entries merge in order and may never redefine a key, stage
``vars`` resolve against the stage's ``wdir``, ``foreach``/``matrix`` generate ``name@key`` stages,
and every error names the file and the ``stages.<name>.<field>`` that failed, in DVC's words.
The raw file is validated against DVC's schema before anything is interpolated, as DVC 3's CLI does
(so ``frozen: ${x}`` is "expected bool", as in ``dvc``); then each resolved stage is validated again
with the same schema, naming the generated stage, where DVC crashes or takes e.g. an int as a path.
"""

from __future__ import annotations

import itertools
import logging
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from jupyter_exp.errors import ResolveError, YAMLFileError
from jupyter_exp.fsutil import TreeReader
from jupyter_exp.pipeline.interpolate import (
    KEYCRE,
    Context,
    ContextError,
    ParseError,
    ReservedKeyError,
    VarsAlreadyLoaded,
    check_recursive,
    humanize_join,
    is_interpolated,
    parse_expr,
    to_str,
    walk_strings,
)
from jupyter_exp.serialize import load_file, parse_bytes

logger = logging.getLogger(__name__)

DEFAULT_PARAMS_FILE = "params.yaml"
JOIN = "@"


@dataclass
class ResolvedPipeline:
    """One ``dvc.yaml`` after templating; every value is plain data (dicts, lists, scalars)."""

    path: str  # dvc.yaml path relative to the repo root
    stages: dict[str, dict[str, Any]]  # resolved name -> definition (dvc.yaml keys, interpolated)
    plots: list[Any]
    metrics: list[Any]
    params: list[Any]
    raw_stage_names: dict[str, str]  # resolved name -> its key in dvc.yaml ("build@us" -> "build")
    # resolved name -> {params file: {dotted key: value}} for the variables each stage interpolated
    tracked_vars: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)


def resolve(
    tree: TreeReader, dvcyaml_path: str = "dvc.yaml", *, parsing: dict[str, str] | None = None
) -> ResolvedPipeline:
    """Load, validate and resolve ``dvcyaml_path``; ``parsing`` is ``.dvc/config``'s ``[parsing]``."""
    if not tree.exists(dvcyaml_path):
        raise YAMLFileError(f"'{dvcyaml_path}' does not exist")
    raw = tree.read_bytes(dvcyaml_path)
    data = load_file(raw, name=dvcyaml_path)
    validate(data, dvcyaml_path, raw)
    return _Resolver(tree, dvcyaml_path, data, parsing or {}).resolve()


# ---------------------------------------------------------------------------------------------- schema

STAGE_KEYS = (
    "cmd", "wdir", "deps", "params", "outs", "metrics", "plots", "frozen", "always_changed",
    "desc", "meta", "vars", "live", "matrix",
)  # fmt: skip
OUT_OPTIONS = {
    "cache": bool, "persist": bool, "checkpoint": bool, "remote": str, "push": bool,
    "desc": str, "type": str, "labels": list, "meta": object,
}  # fmt: skip
PLOT_OPTIONS = {**OUT_OPTIONS, "template": str, "x": str, "y": str, "x_label": str, "y_label": str,
                "title": str, "header": bool}  # fmt: skip
LIVE_OPTIONS = {"summary": bool, "html": bool, "report": bool, "cache": bool}
TOP_PLOT_OPTIONS = {"x": (str, dict), "y": (str, list, dict), "x_label": str, "y_label": str,
                    "title": str, "template": str}  # fmt: skip
TOP_KEYS = ("stages", "vars", "plots", "params", "metrics", "artifacts", "datasets")
_TYPE_NAMES = {str: "str", bool: "bool", list: "list", dict: "a dictionary", int: "int"}


class _Validator:
    """Collects every schema error with its key path, like voluptuous does for DVC."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, tuple[Any, ...]]] = []

    def fail(self, message: str, path: tuple[Any, ...]) -> None:
        self.errors.append((message, path))

    def type(self, value: Any, types: Any, path: tuple[Any, ...]) -> bool:
        types = types if isinstance(types, tuple) else (types,)
        ok = _type_ok(value, types)
        if not ok:
            self.fail("expected " + " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types), path)
        return ok

    def mapping(self, value: Any, allowed: Mapping[str, Any], path: tuple[Any, ...]) -> None:
        """A dict of options: only ``allowed`` keys, each of its type."""
        if value is None:
            return
        if not self.type(value, dict, path):
            return
        for key, item in value.items():
            if key not in allowed:
                self.fail("extra keys not allowed", (*path, key))
            else:
                self.type(item, allowed[key], (*path, key))

    def list_of(self, value: Any, path: tuple[Any, ...], check: Any) -> None:
        if self.type(value, list, path):
            for i, item in enumerate(value):
                check(item, (*path, i))

    def strings(self, value: Any, path: tuple[Any, ...]) -> None:
        self.list_of(value, path, lambda item, p: self.type(item, str, p))

    def vars(self, value: Any, path: tuple[Any, ...]) -> None:
        self.list_of(value, path, lambda item, p: self.type(item, (str, dict), p))

    def outputs(self, value: Any, path: tuple[Any, ...], options: Mapping[str, Any]) -> None:
        def entry(item: Any, p: tuple[Any, ...]) -> None:
            if isinstance(item, dict):
                for out_path, opts in item.items():
                    if not isinstance(out_path, str):
                        self.fail("expected str", (*p, out_path))
                    elif isinstance(opts, list) and options is PLOT_OPTIONS:
                        for j, one in enumerate(opts):
                            self.mapping(one, options, (*p, out_path, j))
                    else:
                        self.mapping(opts, options, (*p, out_path))
            else:
                self.type(item, (str, dict), p)

        self.list_of(value, path, entry)

    def params(self, value: Any, path: tuple[Any, ...]) -> None:
        def entry(item: Any, p: tuple[Any, ...]) -> None:
            if isinstance(item, dict):
                for file, keys in item.items():
                    if keys is not None:
                        self.strings(keys, (*p, file))
            else:
                self.type(item, (str, dict), p)

        self.list_of(value, path, entry)

    def stage(self, stage: Any, path: tuple[Any, ...], *, in_foreach: bool = False) -> None:
        if not self.type(stage, dict, path):
            return
        if "foreach" in stage or "do" in stage:
            for key in stage:
                if key not in ("foreach", "do"):
                    self.fail("extra keys not allowed", (*path, key))
            for key in ("foreach", "do"):
                if key not in stage:
                    self.fail("required key not provided", (*path, key))
            if "foreach" in stage:
                self.type(stage["foreach"], (dict, list, str), (*path, "foreach"))
            if "do" in stage:
                self.stage(stage["do"], (*path, "do"), in_foreach=True)
            return
        for key in stage:
            if key not in STAGE_KEYS or (in_foreach and key == "matrix"):
                self.fail("extra keys not allowed", (*path, key))
        if "cmd" not in stage:
            self.fail("required key not provided", (*path, "cmd"))
        checks: dict[str, Any] = {
            "cmd": lambda v, p: self.type(v, str, p) if not isinstance(v, list) else self.strings(v, p),
            "wdir": lambda v, p: self.type(v, str, p),
            "deps": self.strings,
            "params": self.params,
            "outs": lambda v, p: self.outputs(v, p, OUT_OPTIONS),
            "metrics": lambda v, p: self.outputs(v, p, OUT_OPTIONS),
            "plots": lambda v, p: self.outputs(v, p, PLOT_OPTIONS),
            "frozen": lambda v, p: self.type(v, bool, p),
            "always_changed": lambda v, p: self.type(v, bool, p),
            "desc": lambda v, p: self.type(v, str, p),
            "vars": self.vars,
            "live": self.live,
            "matrix": self.matrix,
        }
        for key, value in stage.items():
            if key in checks and not (in_foreach and key == "matrix"):
                checks[key](value, (*path, key))

    def live(self, value: Any, path: tuple[Any, ...]) -> None:
        if self.type(value, dict, path):
            for directory, options in value.items():
                self.mapping(options, LIVE_OPTIONS, (*path, directory))

    def matrix(self, value: Any, path: tuple[Any, ...]) -> None:
        if self.type(value, dict, path):
            for name, values in value.items():
                self.type(values, (str, list), (*path, name))

    def top_plots(self, value: Any, path: tuple[Any, ...]) -> None:
        def entry(item: Any, p: tuple[Any, ...]) -> None:
            if isinstance(item, dict):
                for name, opts in item.items():
                    self.mapping(opts, TOP_PLOT_OPTIONS, (*p, name))
            else:
                self.type(item, (str, dict), p)

        self.list_of(value, path, entry)

    def document(self, data: dict[str, Any]) -> None:
        for key in data:
            if key not in TOP_KEYS:
                self.fail("extra keys not allowed", (key,))
        stages = data.get("stages")
        if stages is not None and self.type(stages, dict, ("stages",)):
            for name, stage in stages.items():
                self.stage(stage, ("stages", name))
        if "vars" in data:
            self.vars(data["vars"], ("vars",))
        if "plots" in data:
            self.top_plots(data["plots"], ("plots",))
        for key in ("params", "metrics"):
            if key in data:
                self.strings(data[key], (key,))


def _type_ok(value: Any, types: tuple[Any, ...]) -> bool:
    if object in types:
        return True
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


def _line_of(raw: bytes, path: tuple[Any, ...]) -> int | None:
    """1-based line of the node at ``path`` (or its nearest ancestor); only computed on errors."""
    import yaml

    try:
        node = yaml.compose(raw.decode("utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    child, line = value_node, key_node.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def validate(data: Any, relpath: str, raw: bytes | None = None) -> None:
    """Check a raw ``dvc.yaml`` against DVC's schema (plus DVC 2.0's ``live:``); YAMLFileError lists all."""
    if not isinstance(data, dict):
        raise YAMLFileError(f"'{relpath}' validation failed: expected a dictionary")
    validator = _Validator()
    validator.document(data)
    if not validator.errors:
        return
    lines = []
    for message, path in validator.errors:
        where = ".".join(str(p) for p in path)
        line = _line_of(raw, path) if raw is not None else None
        lines.append(f"{message} in '{where}'" + (f", line {line}" if line else ""))
    header = f"'{relpath}' validation failed"
    if len(lines) == 1:
        raise YAMLFileError(f"{header}: {lines[0]}")
    raise YAMLFileError(f"{header}: {len(lines)} errors\n" + "\n".join(f"  {line}" for line in lines))


# ------------------------------------------------------------------------------------------- resolving


def _value_at(value: Any, path: tuple[Any, ...]) -> Any:
    """The item at ``path`` inside nested dicts/lists (None when absent)."""
    for part in path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _type_label(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _is_map_or_seq(value: Any) -> bool:
    return isinstance(value, (Mapping, Sequence)) and not isinstance(value, (str, bytes))


class _Resolver:
    def __init__(self, tree: TreeReader, relpath: str, data: dict[str, Any], parsing: dict[str, str]) -> None:
        self.tree = tree
        self.relpath = relpath
        self.wdir = posixpath.dirname(relpath)
        self.data = data
        self.parsing = parsing
        self.files: dict[str, dict[str, Any]] = {}
        self.tracked: dict[str, dict[str, dict[str, Any]]] = {}

        vars_ = data.get("vars") or []
        self._check_no_interpolation(vars_, "vars")
        self.context = Context()
        default = posixpath.join(self.wdir, DEFAULT_PARAMS_FILE)
        if tree.exists(default):
            try:
                self._merge_from(self.context, DEFAULT_PARAMS_FILE, self.wdir)
            except ContextError as exc:  # not the author's `vars`: name the file that is wrong
                raise ResolveError(f"failed to load the variables of '{default}' for '{relpath}': {exc}") from None
        try:
            self._load_vars(self.context, vars_, self.wdir)
        except ContextError as exc:
            self._fail(exc, "'vars'")

    # -- errors

    def _fail(self, exc: Exception, what: str) -> NoReturn:
        spacing = "\n" if getattr(exc, "multiline", False) else " "
        raise ResolveError(f"failed to parse {what} in '{self.relpath}':{spacing}{exc}") from None

    def _check_no_interpolation(self, data: Any, where: str) -> None:
        def check(text: str) -> str:
            if is_interpolated(text):
                raise ResolveError(
                    f"failed to parse '{where}' in '{self.relpath}': interpolating is not allowed"
                )
            return text

        walk_strings(data, check)

    def _check_syntax(self, definition: Mapping[str, Any], name: str) -> None:
        for key, value in definition.items():
            try:
                check_recursive(value)
            except ParseError as exc:
                self._fail(exc, f"'stages.{name}.{key}'")

    # -- variables

    def _read(self, path: str) -> dict[str, Any]:
        if path not in self.files:
            if not self.tree.exists(path):
                raise ContextError(f"'{path}' does not exist")
            if self.tree.isdir(path):
                raise ContextError(f"'{path}' is a directory")
            data = parse_bytes(self.tree.read_bytes(path), name=path)
            data = {} if data is None else data
            if not isinstance(data, Mapping):
                raise ContextError(f"expected a dictionary, got '{type(data).__name__}' in file '{path}'")
            self.files[path] = dict(data)
        return self.files[path]

    def _merge_from(self, ctx: Context, item: str, wdir: str) -> None:
        relname, _, keys_str = item.partition(":")
        path = posixpath.normpath(posixpath.join(wdir, relname))
        keys = [key for key in keys_str.split(",") if key] or None
        if path in ctx.imports:
            loaded = ctx.imports[path]
            if keys is None and loaded is None:
                return  # the same whole file may be listed again
            if keys is None and loaded is not None:
                raise VarsAlreadyLoaded(f"cannot load '{item}' as it's partially loaded already")
            if keys is not None and loaded is None:
                raise VarsAlreadyLoaded(f"cannot partially load '{item}' as it's already loaded.")
            if loaded is not None and keys is not None and set(keys) & set(loaded):
                raise VarsAlreadyLoaded(f"cannot load '{item}' as it's partially loaded already")
        data = self._read(path)
        if keys:
            missing = next((key for key in keys if key not in data), None)
            if missing is not None:
                raise ContextError(f"could not find '{missing}' in '{path}'")
            data = {key: data[key] for key in keys}
        try:
            ctx.merge(data, path, is_file=True)
        except ReservedKeyError:
            raise ReservedKeyError([k for k in ctx.reserved if k in data], item) from None
        if path not in ctx.imports or ctx.imports[path] is None:
            ctx.imports[path] = list(keys) if keys else None
        else:
            ctx.imports[path] = [*ctx.imports[path], *(keys or [])]  # type: ignore[misc]

    def _load_vars(
        self,
        ctx: Context,
        vars_: list[Any],
        wdir: str,
        *,
        stage: str | None = None,
    ) -> None:
        for index, item in enumerate(vars_):
            if isinstance(item, str):
                self._merge_from(ctx, item, wdir)
            else:
                ctx.merge(item, f"{stage}.vars[{index}]" if stage else f"vars[{index}]", is_file=False)

    # -- stages

    def resolve(self) -> ResolvedPipeline:
        stages: dict[str, dict[str, Any]] = {}
        raw_names: dict[str, str] = {}
        for name, definition in (self.data.get("stages") or {}).items():
            name = str(name)
            if "matrix" in definition:
                generated = self._resolve_matrix(name, definition)
            elif "foreach" in definition:
                generated = self._resolve_foreach(name, definition)
            else:
                generated = {name: self._resolve_entry(self.context, name, definition)}
            for resolved_name, resolved in generated.items():
                stages[resolved_name] = resolved
                raw_names[resolved_name] = name
        return ResolvedPipeline(
            path=self.relpath,
            stages=stages,
            plots=self._resolve_top("plots"),
            metrics=self._resolve_top("metrics"),
            params=self._resolve_top("params"),
            raw_stage_names=raw_names,
            tracked_vars=self.tracked,
        )

    def _resolve_top(self, where: str) -> list[Any]:
        out = []
        for index, definition in enumerate(self.data.get(where) or []):
            try:
                check_recursive(definition)
                out.append(self.context.resolve(definition))
            except ContextError as exc:
                self._fail(exc, f"'{where}.{index}'")
        check = _Validator.top_plots if where == "plots" else _Validator.strings
        self._check_resolved(out, (where,), lambda v: check(v, out, (where,)))
        return out

    def _resolve_entry(
        self, ctx: Context, name: str, definition: Mapping[str, Any], *, skip_checks: bool = False
    ) -> dict[str, Any]:
        if not skip_checks:
            self._check_syntax(definition, name)
        definition = dict(definition)
        wdir = self._resolve_wdir(ctx, name, definition.get("wdir"))
        vars_ = definition.pop("vars", None) or []
        self._check_no_interpolation(vars_, f"stages.{name}.vars")
        if vars_:
            ctx = ctx.clone()
        try:
            self._load_vars(ctx, vars_, wdir, stage=name)
        except VarsAlreadyLoaded as exc:
            self._fail(exc, f"'stages.{name}.vars'")
        except ContextError as exc:
            self._fail(exc, f"stage '{name}'")

        tracked: dict[str, dict[str, Any]] = {}
        ctx.tracked = tracked
        resolved = {}
        try:
            for key, value in definition.items():
                try:
                    resolved[key] = ctx.resolve(value, key=key, config=self.parsing)
                except ContextError as exc:
                    self._fail(exc, f"'stages.{name}.{key}'")
        finally:
            ctx.tracked = None
        self._check_resolved(resolved, ("stages", name), lambda v: v.stage(resolved, ("stages", name)))
        self.tracked[name] = tracked
        return resolved

    def _check_resolved(self, value: Any, path: tuple[Any, ...], check: Any) -> None:
        """Validate interpolated values with the raw file's schema; the first error names the key."""
        validator = _Validator()
        check(validator)
        if not validator.errors:
            return
        message, where = validator.errors[0]
        found = _value_at(value, where[len(path) :])
        got = f", got {_type_label(found)}" if message.startswith("expected") else ""
        raise ResolveError(
            f"failed to resolve '{'.'.join(str(p) for p in where)}' in '{self.relpath}': {message}{got}"
        )

    def _resolve_wdir(self, ctx: Context, name: str, wdir: Any) -> str:
        if not wdir:
            return self.wdir
        try:
            text = ctx.resolve_str(wdir)
        except ContextError as exc:
            self._fail(exc, f"'stages.{name}.wdir'")
        self._check_resolved(
            text, ("stages", name, "wdir"), lambda v: v.type(text, str, ("stages", name, "wdir"))
        )
        return posixpath.normpath(posixpath.join(self.wdir, text))

    def _warn_if_overwriting(self, keys: list[str], name: str) -> None:
        present = [key for key in keys if key in self.context]
        if present:
            verb = "is" if len(present) == 1 else "are"
            logger.warning(
                "%s %s already specified, will be overwritten for stages generated from '%s'",
                humanize_join(present),
                verb,
                name,
            )

    def _origin(self, raw: Any) -> tuple[str, ...] | None:
        """The context path a ``foreach``/``matrix`` value was taken from, when it is one ``${...}``."""
        if isinstance(raw, str):
            match = KEYCRE.fullmatch(raw)
            if match:
                return tuple(parse_expr(match["inner"]).split("."))
        return None

    def _resolve_foreach(self, name: str, definition: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        raw = definition["foreach"]
        try:
            iterable = self.context.resolve(raw)
        except ContextError as exc:
            self._fail(exc, f"'stages.{name}.foreach'")
        if not _is_map_or_seq(iterable):
            raise ResolveError(
                f"failed to resolve 'stages.{name}.foreach' in '{self.relpath}': "
                f"expected list/dictionary, got {type(iterable).__name__}"
            )
        is_mapping = isinstance(iterable, Mapping)
        self._warn_if_overwriting(["item", "key"] if is_mapping else ["item"], name)
        if is_mapping:
            entries = [(to_str(k), str(k), v) for k, v in iterable.items()]
        elif any(_is_map_or_seq(v) for v in iterable):
            entries = [(str(i), str(i), v) for i, v in enumerate(iterable)]  # composite items: by index
        else:
            entries = [(to_str(v), str(i), v) for i, v in enumerate(iterable)]
        template = definition["do"]
        self._check_syntax(template, name)
        origin = self._origin(raw)
        out: dict[str, dict[str, Any]] = {}
        for key, origin_key, value in entries:
            local = {"item": value, **({"key": key} if is_mapping else {})}
            aliases = {("item",): (*origin, origin_key)} if origin else None
            generated = f"{name}{JOIN}{key}"
            out[generated] = self._resolve_entry(
                self.context.with_locals(local, aliases), generated, template, skip_checks=True
            )
        return out

    def _resolve_matrix(self, name: str, definition: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        template = {k: v for k, v in definition.items() if k != "matrix"}
        raw = definition["matrix"]
        try:
            matrix = self.context.resolve(raw)
        except ContextError as exc:
            self._fail(exc, f"'stages.{name}.matrix'")
        for axis, values in matrix.items():
            if not isinstance(values, list):
                raise ResolveError(
                    f"failed to resolve 'stages.{name}.matrix' in '{self.relpath}': "
                    f"expected list for '{axis}', got {type(values).__name__}"
                )
        self._warn_if_overwriting(["key", "item"], name)
        self._check_syntax(template, name)
        origins = {axis: self._origin(value) for axis, value in raw.items()}
        out: dict[str, dict[str, Any]] = {}
        axes = list(matrix)
        for combination in itertools.product(*(list(enumerate(matrix[axis])) for axis in axes)):
            item = {axis: value for axis, (_i, value) in zip(axes, combination, strict=True)}
            key = "-".join(
                f"{axis}{i}" if _is_map_or_seq(value) else to_str(value)
                for axis, (i, value) in zip(axes, combination, strict=True)
            )
            aliases = {
                ("item", axis): (*origin, str(i))
                for axis, (i, _v) in zip(axes, combination, strict=True)
                if (origin := origins[axis])
            }
            generated = f"{name}{JOIN}{key}"
            child = self.context.with_locals({"key": key, "item": item}, aliases)
            out[generated] = self._resolve_entry(child, generated, template, skip_checks=True)
        return out
