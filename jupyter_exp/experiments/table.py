"""The ``exp show`` table as plain data: rows, their columns, the text formats the front ends print, and
the view model (:class:`TableView`: sort, filter, checkpoint collapse, best values) every front end draws.

The notebook widget and the server's ``GET experiments`` use :class:`TableView`; the lab panel sorts and
filters in the browser (``labextension/src/table.ts``) by the same rules, pinned to these by
``tests/fixtures/table_rules.json``.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

DEFAULT_PRECISION = 5
MISSING = "-"
EXPERIMENT = "Experiment"
CREATED = "Created"
BEST_TRIAL = " ★"  # after the best trial's name (of an `exp sweep` study)
_HEADS = ("workspace", "baseline")
_MINIMISED = re.compile(r"loss|error", re.IGNORECASE)
_COMPARISON = re.compile(r"^\s*([^<>=!\s]+)\s*(<=|>=|!=|==|=|<|>)\s*(\S.*?)\s*$")
# A number in the filter box: plain decimal or exponent notation only, so Python's float() and the
# browser's Number() read the same words as numbers (no "inf", "0x10", "1_000").
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_ORDERS: dict[str, Callable[[int], bool]] = {
    "<": lambda order: order < 0,
    "<=": lambda order: order <= 0,
    ">": lambda order: order > 0,
    ">=": lambda order: order >= 0,
    "=": lambda order: order == 0,
    "==": lambda order: order == 0,
    "!=": lambda order: order != 0,
}


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
    running: bool = False  # a queued experiment a worker is running now (its metrics are the live ones)

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


class _TimeTexts:
    """``format_time`` for many rows: today's date per time zone and each text made once (10,000 rows
    of a sweep share a few dates and minutes; strftime per row was a tenth of ``exp show``)."""

    def __init__(self, now: datetime | None) -> None:
        self._now = now
        self._today: dict[Any, Any] = {}
        self._texts: dict[tuple[Any, ...], str] = {}

    def text(self, created: datetime | None) -> str:
        if created is None:
            return MISSING
        tz = created.tzinfo
        if tz not in self._today:
            self._today[tz] = (self._now or datetime.now(tz)).date()
        day = created.date()
        key = (tz, day, created.hour, created.minute) if day == self._today[tz] else (tz, day)
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = format_time(created, self._now)
        return text


def format_value(value: Any, precision: int | None = None) -> str:
    """A cell: floats to ``precision`` significant digits (5 by default, as DVC), ``-`` when missing."""
    if type(value) is float and math.isfinite(value):  # most cells: checked first
        return f"{value:.{precision or DEFAULT_PRECISION}g}"
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

    def view(self) -> TableView:
        """This table as front ends draw it: records, columns, and the sort/filter/collapse rules."""
        return TableView.of(self)

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
        header = ["Experiment", *(["Created"] if timestamp else []), *columns.values()]
        times = _TimeTexts(now)
        empty: dict[str, Any] = {}
        body = []
        for row in self.rows:
            cells = [row.experiment]
            if timestamp:
                cells.append(times.text(row.created) if row.kind != "workspace" else MISSING)
            for kind, path, key in columns:
                values = row.metrics if kind == "metrics" else row.params
                cells.append(format_value(values.get(path, empty).get(key), precision))
            body.append(cells)
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
                    "running": row.running,
                }
                for row in self.rows
            ],
            indent=2,
            default=str,
        )


# -- the view model ------------------------------------------------------------------------------
def column_id(kind: str, path: str, key: str) -> str:
    """Stable id of a params/metrics column (``metrics:metrics.json:loss``), the front ends' ``data-col``."""
    return f"{kind}:{path}:{key}"


def jsonable(value: Any) -> Any:
    """A cell value a browser can hold: JSON scalars as they are, NaN/inf and lists/dicts as text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def compare_values(left: Any, right: Any) -> int:
    """Ascending order of two present cells: numbers first and by value, then text by code point."""
    if is_number(left) and is_number(right):
        return (left > right) - (left < right)
    if is_number(left) != is_number(right):
        return -1 if is_number(left) else 1
    a, b = str(left), str(right)
    return (a > b) - (a < b)


def cell(record: dict[str, Any], column: str) -> Any:
    """The value ``column`` (an id) sorts and filters on: the label, the creation time, or the cell."""
    if column == EXPERIMENT:
        return record["label"]
    if column == CREATED:
        return None if record["kind"] == "workspace" else record["created"]
    return record["values"].get(column)


def _comparison(value: Any, op: str, wanted: str) -> bool:
    """``value op wanted``: by number when both are numbers, else as text; a missing value never matches."""
    if value is None:
        return False
    if is_number(value) and _NUMBER.match(wanted):
        target = float(wanted)
        return _ORDERS[op]((value > target) - (value < target))
    return _ORDERS[op](compare_values(str(value), wanted))


def _record(row: ExpRow) -> dict[str, Any]:
    values = {
        column_id(kind, path, key): jsonable(value)
        for kind in ("metrics", "params")
        for path, flat in getattr(row, kind).items()
        for key, value in flat.items()
    }
    if row.kind == "workspace":
        group = "workspace"
    elif row.kind == "baseline":
        group = row.rev
    else:
        group = row.baseline or ""
    return {
        "rev": row.rev,
        "name": row.name,
        "kind": row.kind,
        "label": row.label,
        "glyph": row.glyph,
        "created": row.created.isoformat(timespec="seconds") if row.created else None,
        "baseline": row.baseline,
        "parent": row.parent,
        "tip": row.checkpoint_tip,
        "error": row.error,
        "best_of": row.best_of,
        "running": row.running,
        "group": group,
        "unit": row.checkpoint_tip or row.rev,
        "values": values,
    }


@dataclass
class TableView:
    """What a front end draws of an :class:`ExpTable`, as JSON-ready records and columns.

    The rules follow ``exp show --sort-by``: the workspace and baselines stay in place, experiments are
    sorted inside their baseline with missing values last, a checkpoint chain moves (and filters) as one
    unit under its tip.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)  # one record per ``exp show`` row
    columns: list[dict[str, Any]] = field(default_factory=list)  # id, kind, label, file, key, changed

    @classmethod
    def of(cls, table: ExpTable) -> TableView:
        records = [_record(row) for row in table.rows]
        columns = [
            {"id": name, "kind": "info", "label": name, "file": "", "key": name, "changed": True}
            for name in (EXPERIMENT, CREATED)
        ]
        for (kind, path, key), label in table.column_names().items():
            col = column_id(kind, path, key)
            distinct = {json.dumps(rec["values"].get(col), sort_keys=True) for rec in records}
            changed = kind == "metrics" or len(distinct) > 1
            columns.append({"id": col, "kind": kind, "label": label, "file": path, "key": key, "changed": changed})
        return cls(records, columns)

    def shown_columns(self, visible: Collection[str], only_changed: bool = False) -> list[dict[str, Any]]:
        """The columns in ``visible``, minus params equal in every row when ``only_changed``."""
        chosen = set(visible)
        return [c for c in self.columns if c["id"] in chosen and (c["changed"] or not only_changed)]

    def visible_rows(
        self, *, sort_by: str = "", sort_desc: bool = False, filter_text: str = "", collapsed: Collection[str] = ()
    ) -> list[dict[str, Any]]:
        """The records in drawing order: filter, then sort (by a column id; "" keeps the order), then
        collapse (``collapsed`` holds chain tips whose checkpoints are hidden)."""
        units: dict[str, list[dict[str, Any]]] = {}
        groups: dict[str, list[str]] = {}
        for rec in self.rows:
            if rec["unit"] not in units:
                units[rec["unit"]] = []
                groups.setdefault(rec["group"], []).append(rec["unit"])
            units[rec["unit"]].append(rec)
        matches = self.row_filter(filter_text)
        hidden = set(collapsed)

        def order(a: str, b: str) -> int:
            left, right = cell(units[a][0], sort_by), cell(units[b][0], sort_by)
            if left is None or right is None:
                return (left is None) - (right is None)
            return -compare_values(left, right) if sort_desc else compare_values(left, right)

        shown: list[dict[str, Any]] = []
        for unit_ids in groups.values():
            heads = [u for u in unit_ids if units[u][0]["kind"] in _HEADS]
            others = [u for u in unit_ids if u not in heads and any(matches(r) for r in units[u])]
            if sort_by:
                others.sort(key=functools.cmp_to_key(order))
            for unit in heads + others:
                shown.extend(units[unit][:1] if unit in hidden else units[unit])
        return shown

    def row_filter(self, text: str) -> Callable[[dict[str, Any]], bool]:
        """The filter box: ``key<0.5`` compares a column (by id, key or label); anything else is a
        case-insensitive part of the label, name or rev."""
        text = text.strip()
        if not text:
            return lambda _rec: True
        found = _COMPARISON.match(text)
        if found:
            key, op, wanted = found.groups()
            col = next((c["id"] for c in self.columns if key in (c["id"], c["key"], c["label"])), None)
            if col is not None:
                return lambda rec: _comparison(cell(rec, col), op, wanted)
        needle = text.lower()
        return lambda rec: any(needle in (rec[k] or "").lower() for k in ("label", "name", "rev"))

    @staticmethod
    def objective(column: dict[str, Any], objectives: Mapping[str, str] | None = None) -> str:
        """``"min"`` or ``"max"``: the override by column id or key, else min for loss/error names."""
        chosen = objectives or {}
        return (
            chosen.get(column["id"])
            or chosen.get(column["key"])
            or ("min" if _MINIMISED.search(column["key"]) else "max")
        )

    def best(self, objectives: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Per metrics column, the best number over all rows (the cells front ends highlight)."""
        best: dict[str, Any] = {}
        for column in self.columns:
            if column["kind"] != "metrics":
                continue
            numbers = [v for rec in self.rows if is_number(v := rec["values"].get(column["id"]))]
            if numbers:
                best[column["id"]] = min(numbers) if self.objective(column, objectives) == "min" else max(numbers)
        return best
