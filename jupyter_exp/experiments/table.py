"""The ``exp show`` table as plain data: rows, their columns, and the text formats the front ends print."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

DEFAULT_PRECISION = 5
MISSING = "-"


@dataclass
class ExpRow:
    rev: str  # full commit sha, or "workspace"
    name: str | None  # exp name; branch name for a baseline; None for plain checkpoints
    kind: str  # "workspace" | "baseline" | "experiment" | "checkpoint" | "queued"
    baseline: str | None  # baseline commit sha
    parent: str | None  # parent sha (checkpoints: the previous checkpoint)
    created: datetime | None
    params: dict[str, dict[str, Any]]  # params file -> flat dotted key -> value
    metrics: dict[str, dict[str, Any]]  # metrics file -> flat dotted key -> value
    glyph: str  # tree prefix as `exp show` draws it: "", "├── ", "└── ", "│ ╓ ", "│ ╟ ", "├─╨ "
    label: str  # Experiment column text: "workspace", "main", "exp-bb55c", "b363267 (2b06de7)", "4fb124a"
    checkpoint_tip: str | None = None  # checkpoints: sha of their chain's tip
    error: str | None = None
    best_of: str | None = None  # the Optuna study whose best trial this experiment is (`exp sweep`)

    @property
    def experiment(self) -> str:
        """The Experiment column as printed: tree glyph + label."""
        return self.glyph + self.label


def format_time(created: datetime | None, now: datetime | None = None) -> str:
    """``Created`` as the release prints it: a time for today, a date otherwise."""
    if created is None:
        return MISSING
    now = now or datetime.now(created.tzinfo)
    if created.date() == now.date():
        return created.strftime("%I:%M %p")
    return created.strftime("%b %d, %Y")


def format_value(value: Any, precision: int | None = None) -> str:
    """A cell: floats to ``precision`` significant digits (5 by default, as DVC), ``-`` when missing."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.{precision or DEFAULT_PRECISION}g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


@dataclass
class ExpTable:
    rows: list[ExpRow] = field(default_factory=list)
    root: str | None = field(default=None, compare=False)  # the repository shown, for the widget's buttons

    def widget(self, **options: Any) -> Any:
        """This table as the interactive notebook widget (sort, filter, Apply/Branch/Remove/Compare/Diff).

        The widget is a front end, found through the ``jupyter_exp.front_ends`` entry point, so this core
        module never imports Jupyter code. ``options`` go to ``ExperimentsTable`` (``repo``, ``objectives``).
        """
        from importlib.metadata import entry_points

        found = entry_points(group="jupyter_exp.front_ends", name="experiments_table")
        if not found:
            raise RuntimeError("the notebook front end is not installed: pip install jupyter-exp (with its extras)")
        return next(iter(found)).load()(self, **options)

    def _columns(self, attr: str) -> list[tuple[str, str]]:
        seen: dict[tuple[str, str], None] = {}
        for row in self.rows:
            for path, values in getattr(row, attr).items():
                for key in values:
                    seen.setdefault((path, key), None)
        return list(seen)

    def param_columns(self) -> list[tuple[str, str]]:
        """(file, key) of every param, in first-seen order."""
        return self._columns("params")

    def metric_columns(self) -> list[tuple[str, str]]:
        """(file, key) of every metric, in first-seen order."""
        return self._columns("metrics")

    def column_names(self) -> dict[tuple[str, str, str], str]:
        """Header of each (kind, file, key) column: the key, or ``file:key`` where keys clash."""
        columns = [("metrics", f, k) for f, k in self.metric_columns()]
        columns += [("params", f, k) for f, k in self.param_columns()]
        counts: dict[str, int] = {}
        for _, _, key in columns:
            counts[key] = counts.get(key, 0) + 1
        reserved = {"Experiment", "rev", "name", "kind", "Created"}
        return {
            col: col[2] if counts[col[2]] == 1 and col[2] not in reserved else f"{col[1]}:{col[2]}"
            for col in columns
        }

    def _cells(self, row: ExpRow, columns: dict[tuple[str, str, str], str]) -> dict[str, Any]:
        """``row``'s value per column; ``columns`` is ``column_names()``, computed once per table (it
        scans every row, so computing it per row made rendering quadratic)."""
        return {name: getattr(row, kind).get(path, {}).get(key) for (kind, path, key), name in columns.items()}

    def to_records(self) -> list[dict[str, Any]]:
        """One flat dict per row (the DataFrame's rows)."""
        columns = self.column_names()
        return [
            {
                "Experiment": row.experiment,
                "rev": row.rev,
                "name": row.name,
                "kind": row.kind,
                "Created": row.created,
                **self._cells(row, columns),
            }
            for row in self.rows
        ]

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame.from_records(self.to_records())

    def to_csv(self) -> str:
        buf = io.StringIO()
        columns = self.column_names()
        names = list(columns.values())
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["Experiment", "rev", "typ", "Created", "parent", *names])
        for row in self.rows:
            cells = self._cells(row, columns)
            writer.writerow(
                [
                    row.name or row.label,
                    row.rev,
                    row.kind,
                    row.created.isoformat() if row.created else "",
                    row.parent or "",
                    *("" if cells[n] is None else cells[n] for n in names),
                ]
            )
        return buf.getvalue()

    def to_text_rows(
        self, precision: int | None = None, *, timestamp: bool = True, now: datetime | None = None
    ) -> tuple[list[str], list[list[str]]]:
        """Header and cell text, as the rich table and the Markdown table show them."""
        columns = self.column_names()
        names = list(columns.values())
        header = ["Experiment", *(["Created"] if timestamp else []), *names]
        body = []
        for row in self.rows:
            cells = self._cells(row, columns)
            created = [format_time(row.created, now) if row.kind != "workspace" else MISSING]
            body.append(
                [
                    row.experiment,
                    *(created if timestamp else []),
                    *(format_value(cells[n], precision) for n in names),
                ]
            )
        return header, body

    def to_markdown(self, precision: int | None = None) -> str:
        header, body = self.to_text_rows(precision)
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("-" * (len(h) + 2) for h in header) + "|"]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines) + "\n"

    def to_json(self) -> str:
        return json.dumps(
            [
                {
                    "rev": row.rev,
                    "name": row.name,
                    "kind": row.kind,
                    "baseline": row.baseline,
                    "parent": row.parent,
                    "created": row.created.isoformat() if row.created else None,
                    "experiment": row.experiment,
                    "checkpoint_tip": row.checkpoint_tip,
                    "params": row.params,
                    "metrics": row.metrics,
                    "error": row.error,
                    "best_of": row.best_of,
                }
                for row in self.rows
            ],
            indent=2,
            default=str,
        )
