"""What a notebook cell shows for a command's result.

The command table returns data (``str``, :class:`~jupyter_exp.commands.Table`, :class:`~jupyter_exp.commands.JSON`,
an ``ExpTable``, ...); this module turns each into a display: messages are printed, tables get an HTML view with a
plain-text fallback (nbconvert, GitHub, terminals), and the experiments table becomes the interactive widget when
the widget module is installed. Every view works without a widget front end.
"""

from __future__ import annotations

import html
import importlib.util
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from jupyter_exp.commands import JSON, ExpShowView, PlotsPage, Table

if TYPE_CHECKING:
    from jupyter_exp.types import DiffResult, ExpResult

_TABLE_STYLE = "border-collapse:collapse;font-family:var(--jp-code-font-family,monospace);font-size:12px"
_CELL_STYLE = "padding:2px 10px;text-align:left;border-bottom:1px solid #ddd;white-space:pre"


def html_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> str:
    """A small, escaped HTML table (no external CSS, so it looks the same in every front end)."""
    head = "".join(f'<th style="{_CELL_STYLE}">{html.escape(str(c))}</th>' for c in columns)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL_STYLE}">{html.escape(_cell(v))}</td>' for v in row) + "</tr>"
        for row in rows
    )
    caption = (
        f"<caption style='text-align:left;font-weight:bold'>{html.escape(title)}</caption>" if title else ""
    )
    return f'<table class="jx-result-table" style="{_TABLE_STYLE}">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def text_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return Table(list(columns), [list(r) for r in rows]).to_text()


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def table_bundle(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None
) -> dict[str, str]:
    text = text_table(columns, rows)
    return {
        "text/plain": f"{title}\n{text}" if title else text,
        "text/html": html_table(columns, rows, title),
    }


def _display(obj: Any, **kwargs: Any) -> Any:
    from IPython.display import display

    return display(obj, **kwargs)


def exp_table_view(view: ExpShowView, repo: Any = None) -> Any:
    """The interactive ExperimentsTable (buttons wired to ``repo``), or a static HTML/text table without it."""
    if importlib.util.find_spec("jupyter_exp.notebook.widgets.table") is not None:
        from jupyter_exp.notebook.widgets.table import ExperimentsTable

        return ExperimentsTable(view.table, repo=repo)
    header, body = view.table.to_text_rows(view.precision, timestamp=view.timestamp)
    return RawBundle(table_bundle(header, body))


def diff_bundles(diff: DiffResult, title: str) -> list[dict[str, str]]:
    """``exp diff``'s metrics and params tables (only the changed values)."""
    bundles = []
    for kind in ("metrics", "params"):
        header, body = diff.rows(kind)
        if body:
            bundles.append(table_bundle(header, body, f"{title}: {kind}"))
    return bundles or [{"text/plain": f"{title}: no metrics or params changed"}]


def experiment_summary(result: ExpResult) -> str | None:
    """What the log did not already say about a finished ``exp run``."""
    if result.interrupted:
        return f"Interrupted: '{result.name}' keeps the {len(result.checkpoints)} completed checkpoint(s)."
    if result.reused:
        return f"'{result.name}' already had these results: no new experiment was recorded."
    return None


class RawBundle:
    """A precomputed mime bundle, displayable like any rich object."""

    def __init__(self, bundle: dict[str, Any]) -> None:
        self.bundle = bundle

    def _repr_mimebundle_(self, **_kwargs: Any) -> dict[str, Any]:
        return self.bundle


def _experiment_types() -> tuple[type, type]:
    """Imported on use: ``%load_ext`` should not pay for the experiments engine."""
    from jupyter_exp import types

    return types.ExpResult, types.DiffResult


def plots_page_bundle(page: PlotsPage, height: int = 460) -> dict[str, str]:
    """The offline plots page inline: an iframe ``srcdoc`` keeps its styles off the notebook, and the saved
    notebook shows the plots without the page file."""
    document = page.path.read_text(encoding="utf-8")
    frame = (
        f'<iframe class="jx-plots" srcdoc="{html.escape(document, quote=True)}" '
        f'style="width:100%;height:{height}px;border:1px solid #ddd"></iframe>'
    )
    return {"text/html": frame, "text/plain": f"Plots: {page.to_text()}"}


def show(result: Any, repo: Any = None) -> None:
    """Display one command result in the current cell (``repo`` backs the experiments table's buttons)."""
    ExpResult, DiffResult = _experiment_types()  # noqa: N806
    if result is None:
        return
    if isinstance(result, str):
        print(result)
    elif isinstance(result, JSON):
        _display({"application/json": result.data, "text/plain": result.to_text()}, raw=True)
    elif isinstance(result, Table):
        _display(table_bundle(result.columns, result.rows, result.title), raw=True)
    elif isinstance(result, ExpShowView):
        _display(exp_table_view(result, repo))
    elif isinstance(result, PlotsPage):
        _display(plots_page_bundle(result), raw=True)
    elif isinstance(result, ExpResult):
        summary = experiment_summary(result)
        if summary:
            print(summary)
    elif isinstance(result, DiffResult):
        for bundle in diff_bundles(result, f"{result.b} vs {result.a}"):
            _display(bundle, raw=True)
    elif any(hasattr(result, attr) for attr in ("_repr_mimebundle_", "_repr_html_", "_ipython_display_")):
        _display(result)
    else:
        print(result)


def as_text(result: Any) -> str:
    """A result as plain text, for places that cannot display rich output (a background run's pane)."""
    ExpResult, DiffResult = _experiment_types()  # noqa: N806
    if result is None:
        return ""
    if isinstance(result, str):
        return result
    if isinstance(result, (JSON, Table, PlotsPage)):
        return result.to_text()
    if isinstance(result, ExpShowView):
        header, body = result.table.to_text_rows(result.precision, timestamp=result.timestamp)
        return Table(header, body).to_text()
    if isinstance(result, ExpResult):
        return experiment_summary(result) or ""
    if isinstance(result, DiffResult):
        return "\n\n".join(b["text/plain"] for b in diff_bundles(result, f"{result.b} vs {result.a}"))
    return str(result)
