"""The interactive ``exp show`` table: sort, filter, choose columns, collapse checkpoints, act on a selection.

The widget only presents an :class:`~jupyter_exp.experiments.table.ExpTable` and forwards the buttons
to the API (``repo.experiments`` / ``repo.plots``). The view rules (which rows show, in which order, the
best values) are the core's :class:`~jupyter_exp.experiments.table.TableView`; the kernel computes them
and ``table.js`` draws the order it is sent (``order_json``).
"""

from __future__ import annotations

import html
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from jupyter_exp.errors import ExperimentError, JupyterExpError
from jupyter_exp.types import BEST_TRIAL, CREATED, EXPERIMENT, MISSING, ExpTable, TableView, format_value

_REMOVABLE = {"experiment", "checkpoint", "queued"}
Action = Callable[..., Any]


class ExperimentsTable(anywidget.AnyWidget):
    """``exp show`` as a widget; ``repo`` (a :class:`~jupyter_exp.repo.Repo`) backs the buttons and ``refresh()``.

    ``actions`` overrides what a button calls: ``{"apply": fn(revs), "branch": fn(revs, name=...),
    "remove": fn(revs), "diff": fn(revs), "compare": fn(revs)}``, ``revs`` being the selected rows' ``rev``.
    ``objectives`` overrides which way a metric is better: ``{"acc": "max", "metrics:m.json:err": "max"}``.
    """

    _esm = Path(__file__).with_name("table.js")
    _css = Path(__file__).with_name("table.css")

    # The records travel as compact JSON text: a saved notebook stores a list of dicts one value per
    # line, which for 1,000 experiments is megabytes instead of a few hundred kilobytes.
    rows_json = traitlets.Unicode("[]").tag(sync=True)
    order_json = traitlets.Unicode("[]").tag(sync=True)  # the visible rows, as indices into rows_json
    # The sort order_json is in, [column, descending]: the header marks what the rows show, not a click
    # whose new order is still on its way from the kernel.
    order_sort = traitlets.Unicode('["", false]').tag(sync=True)
    columns = traitlets.List().tag(sync=True)
    sort_by = traitlets.Unicode("").tag(sync=True)
    sort_desc = traitlets.Bool(False).tag(sync=True)
    filter_text = traitlets.Unicode("").tag(sync=True)
    visible_columns = traitlets.List(traitlets.Unicode()).tag(sync=True)
    collapsed = traitlets.List(traitlets.Unicode()).tag(sync=True)
    only_changed = traitlets.Bool(False).tag(sync=True)
    selected = traitlets.List(traitlets.Unicode()).tag(sync=True)
    objectives = traitlets.Dict().tag(sync=True)
    best = traitlets.Dict().tag(sync=True)
    output = traitlets.Unicode("").tag(sync=True)
    height = traitlets.Int(420).tag(sync=True)

    def __init__(
        self,
        table: ExpTable | None = None,
        *,
        repo: Any = None,
        actions: dict[str, Action] | None = None,
        objectives: dict[str, str] | None = None,
        show_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(objectives=dict(objectives or {}), **kwargs)
        self.repo = repo
        self.show_options = dict(show_options or {})
        self.actions: dict[str, Action] = {
            **(self._repo_actions() if repo is not None else {}),
            **(actions or {}),
        }
        self._view = TableView()
        self.last_result: Any = None
        self.last_error: BaseException | None = None
        self._watcher: threading.Thread | None = None
        self._stop_watching = threading.Event()
        self.on_msg(self._on_front_end_message)
        self.observe(lambda _change: self._update_best(), names=["objectives"])
        self.observe(
            lambda _change: self._update_order(), names=["sort_by", "sort_desc", "filter_text", "collapsed"]
        )
        if table is None and repo is not None:
            table = repo.experiments.show(**self.show_options)
        self.set_table(table or ExpTable())

    @classmethod
    def from_repo(cls, repo: Any, **show_options: Any) -> ExperimentsTable:
        """The table of ``repo.experiments.show(**show_options)``, with the buttons wired to ``repo``."""
        return cls(repo=repo, show_options=show_options)

    # -- data ----------------------------------------------------------------------------------
    def set_table(self, table: ExpTable) -> None:
        """Show ``table``; keep the user's sort, filter, selection and column choice where they still apply."""
        view = table.view()
        known = {col["id"] for col in self.columns}
        ids = [col["id"] for col in view.columns]
        revs = {rec["rev"] for rec in view.rows}
        units = {rec["unit"] for rec in view.rows}
        with self.hold_sync():
            self._view = view
            self.rows_json = json.dumps(view.rows, separators=(",", ":"))
            self.columns = view.columns
            self.visible_columns = [c for c in ids if c not in known or c in self.visible_columns]
            self.selected = [rev for rev in self.selected if rev in revs]
            self.collapsed = [unit for unit in self.collapsed if unit in units]
            if self.sort_by and self.sort_by not in ids:
                self.sort_by = ""
            self._update_best()
            self._update_order()

    @property
    def rows(self) -> list[dict[str, Any]]:
        """One record per ``exp show`` row: rev, name, kind, label, glyph, created, ..., ``values`` by column id."""
        return self._view.rows

    def objective(self, column: dict[str, Any]) -> str:
        """``"min"`` or ``"max"``: the override by column id or key, else min for loss/error names."""
        return TableView.objective(column, self.objectives)

    def _update_best(self) -> None:
        self.best = self._view.best(self.objectives)

    def _update_order(self) -> None:
        """The drawing order for ``table.js``: indices into the records, computed here, not in the browser."""
        index = {id(rec): i for i, rec in enumerate(self._view.rows)}
        with self.hold_sync():
            self.order_json = json.dumps([index[id(rec)] for rec in self.visible_rows()], separators=(",", ":"))
            self.order_sort = json.dumps([self.sort_by, self.sort_desc])

    # -- the view (computed by experiments/table.py's TableView) -------------------------------
    def sort(self, column: str, descending: bool = False) -> None:
        """Sort experiments inside each baseline by ``column`` (an id from ``columns``); "" restores the order."""
        with self.hold_sync():
            self.sort_by, self.sort_desc = column, descending

    def shown_columns(self) -> list[dict[str, Any]]:
        """Columns the user chose, minus unchanged params when ``only_changed`` is on."""
        return self._view.shown_columns(self.visible_columns, self.only_changed)

    def visible_rows(self) -> list[dict[str, Any]]:
        """The rows in the order the front end draws them (filter, then sort, then collapse)."""
        return self._view.visible_rows(
            sort_by=self.sort_by, sort_desc=self.sort_desc, filter_text=self.filter_text, collapsed=self.collapsed
        )

    # -- actions -------------------------------------------------------------------------------
    def _rows_by_rev(self, revs: list[str]) -> list[dict[str, Any]]:
        by_rev = {rec["rev"]: rec for rec in self.rows}
        return [by_rev[rev] for rev in revs if rev in by_rev]

    @staticmethod
    def _ref(rec: dict[str, Any]) -> str:
        """What the experiments API resolves: the experiment's name when it has one, else its sha."""
        return (
            rec["name"] if rec["kind"] in ("experiment", "queued", "baseline") and rec["name"] else rec["rev"]
        )

    def _repo_actions(self) -> dict[str, Action]:
        def one(revs: list[str]) -> dict[str, Any]:
            rows = self._rows_by_rev(revs)
            if len(rows) != 1:
                raise ExperimentError("select exactly one experiment")
            return rows[0]

        def apply(revs: list[str]) -> Any:
            rec = one(revs)
            self.repo.experiments.apply(self._ref(rec))
            return f"Changes for experiment '{rec['name'] or rec['label']}' have been applied to your current workspace."

        def branch(revs: list[str], name: str = "") -> Any:
            if not name:
                raise ExperimentError("branch needs a name for the new Git branch")
            return self.repo.experiments.branch(self._ref(one(revs)), name)

        def remove(revs: list[str]) -> Any:
            refs = list(
                dict.fromkeys(self._ref(r) for r in self._rows_by_rev(revs) if r["kind"] in _REMOVABLE)
            )
            if not refs:
                raise ExperimentError("select experiments to remove (not the workspace or a baseline)")
            self.repo.experiments.remove(refs)
            return f"Removed experiments: {', '.join(refs)}"

        def diff(revs: list[str]) -> Any:
            rows = self._rows_by_rev(revs)
            if len(rows) == 1:
                base = rows[0]["baseline"] or rows[0]["parent"]
                if base is None:
                    raise ExperimentError(
                        f"'{rows[0]['label']}' has no baseline to diff against: select two rows"
                    )
                rows = [*(self._rows_by_rev([base]) or [{"rev": base, "kind": "", "name": None}]), rows[0]]
            if len(rows) != 2:
                raise ExperimentError("select one experiment (diff against its baseline) or two to diff")
            a, b = (None if r["rev"] == "workspace" else self._ref(r) for r in rows)
            return self.repo.experiments.diff(a, b)

        def compare(revs: list[str]) -> Any:
            return self.repo.plots.diff([self._ref(r) for r in self._rows_by_rev(revs)])

        return {"apply": apply, "branch": branch, "remove": remove, "diff": diff, "compare": compare}

    def run_action(self, action: str, revs: list[str] | None = None, **options: Any) -> Any:
        """Run a button's action on ``revs`` (default: the selection); its result or error goes to ``output``."""
        revs = list(self.selected if revs is None else revs)
        handler = self.actions.get(action)
        try:
            if handler is None:
                raise JupyterExpError(f"no handler for '{action}': pass repo= or actions={{'{action}': ...}}")
            if not revs:
                raise ExperimentError(f"select rows before '{action}'")
            result = handler(revs, **options)
        except Exception as err:  # shown in the widget; the kernel keeps running
            self.last_error, self.last_result = err, None
            text = str(err) if isinstance(err, JupyterExpError) else f"{type(err).__name__}: {err}"
            self.output = f'<div class="jx-error">{html.escape(text, quote=False)}</div>'
            return None
        self.last_error, self.last_result = None, result
        self.output = _result_html(result)
        if action in ("apply", "branch", "remove") and self.repo is not None:
            self.refresh()
        return result

    def _on_front_end_message(self, _widget: Any, content: dict[str, Any], _buffers: list[Any]) -> None:
        if isinstance(content, dict) and content.get("type") == "action":
            options = {"name": content["name"]} if content.get("name") else {}
            self.run_action(str(content.get("action")), list(content.get("revs") or []), **options)
        elif isinstance(content, dict) and content.get("type") == "refresh":
            self.refresh()

    # -- refreshing ----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read ``repo.experiments.show()``."""
        if self.repo is None:
            raise JupyterExpError("this table has no repo to refresh from: build it with repo=")
        self.set_table(self.repo.experiments.show(**self.show_options))

    def auto_refresh(self, interval: float = 2.0) -> ExperimentsTable:
        """Refresh whenever experiment refs change (polls ``refs/exps`` and ``packed-refs``)."""
        if self.repo is None:
            raise JupyterExpError("auto_refresh needs a repo: build the table with repo=")
        if self._watcher is None or not self._watcher.is_alive():
            self._stop_watching.clear()
            git_dir = _git_dir(Path(self.repo.root))
            self._watcher = threading.Thread(
                target=self._watch,
                args=(git_dir, _refs_fingerprint(git_dir), interval),
                name="jx-table",
                daemon=True,
            )
            self._watcher.start()
        return self

    def stop_auto_refresh(self) -> None:
        self._stop_watching.set()
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None

    def _watch(self, git_dir: Path, seen: tuple[Any, ...], interval: float) -> None:
        while not self._stop_watching.wait(interval):
            current = _refs_fingerprint(git_dir)
            if current != seen:
                seen = current
                try:
                    self.refresh()
                except JupyterExpError as err:
                    self.output = f'<div class="jx-error">{html.escape(str(err), quote=False)}</div>'

    # -- static fallbacks ----------------------------------------------------------------------
    def _cell_text(self, rec: dict[str, Any], column: dict[str, Any]) -> str:
        if column["id"] == EXPERIMENT:
            return rec["glyph"] + rec["label"] + (BEST_TRIAL if rec.get("best_of") else "")
        if column["id"] == CREATED:
            return (
                MISSING if rec["kind"] == "workspace" else (rec["created"] or MISSING).replace("T", " ")[:16]
            )
        return format_value(rec["values"].get(column["id"]))

    def _repr_html_(self) -> str:
        columns, best = self.shown_columns(), self.best
        head = "".join(
            f'<th data-col="{html.escape(c["id"])}" title="{html.escape(c["file"])}">{html.escape(c["label"])}</th>'
            for c in columns
        )
        body = []
        for rec in self.visible_rows():
            cells = []
            for c in columns:
                text = html.escape(self._cell_text(rec, c))
                is_best = c["id"] in best and rec["values"].get(c["id"]) == best[c["id"]]
                cells.append(f"<td><b>{text}</b></td>" if is_best else f"<td>{text}</td>")
            body.append(
                f'<tr class="jx-row jx-{rec["kind"]}{" jx-best-trial" if rec.get("best_of") else ""}" '
                f'data-rev="{html.escape(rec["rev"])}">{"".join(cells)}</tr>'
            )
        return (
            f'<table class="jx-table jx-static"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>"
        )

    def to_text(self) -> str:
        """Plain text table of the current view."""
        columns = self.shown_columns()
        grid = [[c["label"] for c in columns]]
        grid += [[self._cell_text(rec, c) for c in columns] for rec in self.visible_rows()]
        widths = [max(len(line[i]) for line in grid) for i in range(len(columns))]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            for line in grid
        ]
        return "\n".join(lines)

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        data, metadata = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = self.to_text()
        data["text/html"] = self._repr_html_()
        return data, metadata


def _result_html(result: Any) -> str:
    """An action's result as HTML for the output area (rich objects through their own ``_repr_html_``)."""
    if result is None:
        return '<div class="jx-done">Done.</div>'
    if isinstance(result, os.PathLike) and os.fspath(result).endswith(".html"):
        result = Path(result).read_text(encoding="utf-8")
    if isinstance(result, str) and result.lstrip().startswith(("<!DOCTYPE", "<html", "<div", "<figure")):
        return result
    if hasattr(result, "_repr_html_"):
        rendered = result._repr_html_()
        if rendered:
            return rendered
    if hasattr(result, "to_markdown"):
        result = result.to_markdown()
    elif not isinstance(result, str):
        result = (
            json.dumps(result, indent=2, default=str) if isinstance(result, (dict, list)) else repr(result)
        )
    return f"<pre>{html.escape(result, quote=False)}</pre>"


def _git_dir(root: Path) -> Path:
    dot_git = root / ".git"
    if dot_git.is_file():
        pointer = dot_git.read_text().strip().removeprefix("gitdir:").strip()
        return (root / pointer).resolve()
    return dot_git


def _refs_fingerprint(git_dir: Path) -> tuple[Any, ...]:
    """Cheap change detector: every loose experiment ref's path and mtime, plus packed-refs' mtime."""
    stamps: list[tuple[str, int]] = []
    for dirpath, _dirs, files in os.walk(git_dir / "refs" / "exps"):
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                stamps.append((path, os.stat(path).st_mtime_ns))
            except FileNotFoundError:
                continue
    try:
        packed = os.stat(git_dir / "packed-refs").st_mtime_ns
    except FileNotFoundError:
        packed = 0
    return packed, tuple(sorted(stamps))


def experiments_table(table: ExpTable, *, repo: Any = None, **options: Any) -> ExperimentsTable:
    """``ExpTable.widget()``: the widget for a table, its buttons wired to the repository it shows."""
    if repo is None and table.root is not None:
        from jupyter_exp.repo import Repo

        repo = Repo(table.root)
    return ExperimentsTable(table, repo=repo, **options)
