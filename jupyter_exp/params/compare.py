"""Compare flat key/value files between two revisions and lay the result out as DVC 3 does.

Params and metrics are both ``{file: {dotted.key: value}}`` at a revision; ``params diff``, ``metrics
diff`` and ``exp diff`` differ only in the column titles, so they share this one engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MISSING = "-"  # what DVC 3 prints where a value or a change does not exist

FlatFiles = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class DiffRow:
    """One changed key: ``change`` is ``new - old`` when both are numbers, else ``None``."""

    path: str
    key: str
    old: Any
    new: Any
    change: int | float | None


def is_number(value: Any) -> bool:
    """Numbers that have a difference; booleans are not, though Python treats them as ints."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def diff_files(old: FlatFiles, new: FlatFiles, *, all: bool = False) -> list[DiffRow]:
    """Rows for every key whose value differs (every key with ``all``), files and keys sorted.

    A file or key present on one side only compares against ``None``, as DVC shows it.
    """
    rows: list[DiffRow] = []
    for path in sorted(set(old) | set(new)):
        old_values = old.get(path) or {}
        new_values = new.get(path) or {}
        for key in sorted(set(old_values) | set(new_values)):
            before = old_values.get(key)
            after = new_values.get(key)
            if before == after and not all:
                continue
            change = after - before if is_number(before) and is_number(after) else None
            rows.append(DiffRow(path, key, before, after, change))
    return rows


def diff_json(rows: Iterable[DiffRow]) -> dict[str, dict[str, dict[str, Any]]]:
    """DVC's ``--json`` shape: ``{file: {key: {"old": .., "new": .., "diff": ..}}}`` (``diff`` for numbers)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        entry: dict[str, Any] = {"old": row.old, "new": row.new}
        if row.change is not None:
            entry["diff"] = row.change
        out.setdefault(row.path, {})[row.key] = entry
    return out


def format_value(value: Any, precision: int | None = None) -> str:
    """A cell: floats rounded to ``precision`` digits after the point (DVC 2.0's ``--precision``)."""
    if value is None:
        return MISSING
    if isinstance(value, float) and precision is not None:
        return str(round(value, precision))
    return str(value)


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, markdown: bool = False) -> str:
    """DVC 2.0's table: left-aligned columns two spaces apart, or a GitHub-flavoured Markdown table.

    Column widths leave two spaces of room past each title, the layout ``tabulate`` gave DVC.
    """
    if not rows and not markdown:
        return ""
    widths = [len(title) + 2 for title in header]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    if markdown:
        lines = [_md_line(header, widths), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        lines += [_md_line(row, widths) for row in rows]
        return "\n".join(lines) + "\n"
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *rows]
    )


def _md_line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "|" + "|".join(f" {cell.ljust(width)} " for cell, width in zip(cells, widths, strict=True)) + "|"


def render_diff(
    rows: Iterable[DiffRow],
    *,
    title: str,
    revs: tuple[str, str] = ("Old", "New"),
    change: bool = True,
    no_path: bool = False,
    markdown: bool = False,
    precision: int | None = None,
) -> str:
    """The diff table: ``Path <title> <old rev> <new rev> Change``, the columns titled with the revisions
    as the user named them (``HEAD``, ``workspace``, an experiment), as DVC 3 does; ``change=False`` is
    the ``params diff`` layout without a Change column."""
    header = ([] if no_path else ["Path"]) + [title, *revs]
    if change:
        header.append("Change")
    cells = []
    for row in rows:
        line = ([] if no_path else [row.path]) + [row.key]
        line.append(format_value(row.old, precision))
        line.append(format_value(row.new, precision))
        if change:
            line.append(format_value(row.change, precision))
        cells.append(line)
    return render_table(header, cells, markdown=markdown)
