"""The ``dvc.yaml`` schema as DVC 3 checks it: keys, types and output options, with errors naming the
``stages.<name>.<field>`` and line that failed, in DVC's words.

``templating.py`` runs it on the raw file (before anything is interpolated, as DVC 3's CLI does) and
again on each resolved stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jupyter_exp.errors import YAMLFileError

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


class Validator:
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
    validator = Validator()
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
