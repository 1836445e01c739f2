"""``exp diff``: metrics and params of two revisions side by side, as the release's two tables."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from jupyter_exp.experiments.table import format_value


@dataclass
class DiffEntry:
    old: Any
    new: Any

    @property
    def change(self) -> Any:
        """``new - old`` for numbers, ``-`` when either side is missing or not numeric."""
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (self.old, self.new)):
            return self.new - self.old
        return None


@dataclass
class DiffResult:
    a: str  # old revision as the user named it
    b: str  # new revision
    metrics: dict[str, dict[str, DiffEntry]] = field(default_factory=dict)
    params: dict[str, dict[str, DiffEntry]] = field(default_factory=dict)

    def rows(
        self, kind: str, *, precision: int | None = None, no_path: bool = False
    ) -> tuple[list[str], list[list[str]]]:
        """Header and cells of one table (``kind`` is "metrics" or "params") as DVC 3 prints them: the
        value columns titled with the revisions as named (``HEAD``, ``workspace``, an experiment)."""
        label = "Metric" if kind == "metrics" else "Param"
        header = [*([] if no_path else ["Path"]), label, self.a, self.b, "Change"]
        body = []
        for path, entries in getattr(self, kind).items():
            for key, entry in entries.items():
                cells = [entry.old, entry.new, entry.change]
                # As DVC: --precision rounds metrics; params (and their changes) print as Python does.
                shown = [format_value(v, precision) if kind == "metrics" else _unrounded(v) for v in cells]
                body.append([*([] if no_path else [path]), key, *shown])
        return header, body

    def table(self, kind: str, *, precision: int | None = None, no_path: bool = False, markdown: bool = False) -> str:
        """One table of :meth:`rows` as ``dvc exp diff`` prints it (or Markdown); "" when nothing changed."""
        from jupyter_exp.params.compare import render_table

        header, body = self.rows(kind, precision=precision, no_path=no_path)
        return render_table(header, body, markdown=markdown) if body else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            kind: {
                path: {
                    key: {"old": e.old, "new": e.new, **({"diff": e.change} if e.change is not None else {})}
                    for key, e in entries.items()
                }
                for path, entries in getattr(self, kind).items()
            }
            for kind in ("metrics", "params")
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=str)

    def to_markdown(self, *, precision: int | None = None) -> str:
        blocks = []
        for kind in ("metrics", "params"):
            header, body = self.rows(kind, precision=precision)
            if not body:
                continue
            lines = [
                "| " + " | ".join(header) + " |",
                "|" + "|".join("-" * (len(h) + 2) for h in header) + "|",
            ]
            lines += ["| " + " | ".join(cells) + " |" for cells in body]
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks) + ("\n" if blocks else "")


def _unrounded(value: Any) -> str:
    return repr(value) if isinstance(value, float) else format_value(value)


def compare(
    old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]], *, include_all: bool = False
) -> dict[str, dict[str, DiffEntry]]:
    """Per file and key, the entries that differ (or all of them with ``include_all``)."""
    result: dict[str, dict[str, DiffEntry]] = {}
    for path in dict.fromkeys([*old, *new]):
        before, after = old.get(path, {}), new.get(path, {})
        entries = {}
        for key in sorted(set(before) | set(after)):  # keys sorted within a file, as DVC's exp diff
            entry = DiffEntry(before.get(key), after.get(key))
            if include_all or entry.old != entry.new or (key in before) != (key in after):
                entries[key] = entry
        if entries:
            result[path] = entries
    return result
