"""``dvc.yaml`` -> resolved stages: schema validation (``schema.py``), ``vars``, ``${...}``, ``foreach`` and ``matrix``.

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
from jupyter_exp.pipeline.paths import stage_wdir
from jupyter_exp.pipeline.schema import Validator, validate
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
        check = Validator.top_plots if where == "plots" else Validator.strings
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
        validator = Validator()
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
        # before stage vars are read from it: a wdir outside the repository must not load files there
        return stage_wdir(self.wdir or ".", text, f"'{self.relpath}' stage '{name}'")

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
