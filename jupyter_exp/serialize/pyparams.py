"""Python params files: read their literals through ``ast`` and rewrite only the literals whose values
changed (located by ``ast`` positions), so comments, layout and code around them stay as written.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Mapping
from typing import Any

from jupyter_exp.errors import YAMLFileError


def parse_py(text: str, name: str) -> dict[str, Any]:
    """The literal params of a Python file (module constants, classes as dicts), never executing it."""
    try:
        tree = ast.parse(text, filename=name)
    except SyntaxError as exc:
        message = f"Python file structure is corrupted: {exc.msg} in line {exc.lineno}"
        raise YAMLFileError(f"unable to read: '{name}', {message}") from None
    return {key: value for key, (value, _node) in _py_namespace(tree.body).items()}


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


def dump_py(name: str, data: Mapping[str, Any]) -> str:
    """The text of Python params file ``name`` with ``data``'s values: only changed literals are rewritten."""
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
