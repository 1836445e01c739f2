"""Twenty live plots saved in one notebook (outputs + widget state, as JupyterLab saves them) stay under 5 MB."""

from __future__ import annotations

import json
import math
from pathlib import Path

import ipywidgets.embed
import nbformat

from jupyter_exp.live import Live
from jupyter_exp.notebook.widgets import ExperimentsTable, LiveMetricsPlot

STEPS = 5_000
PLOTS = 20
LIMIT = 5 * 1024 * 1024


def log_training(folder: Path) -> None:
    """A long run of four metrics, written by the real logger."""
    with Live(str(folder), report=None) as live:
        for step in range(STEPS):
            live.log_metric("loss", math.exp(-step / 900) + 0.01 * math.sin(step))
            live.log_metric("val/loss", math.exp(-step / 1000) + 0.02 * math.cos(step / 3))
            live.log_metric("acc", 1 - math.exp(-step / 800))
            live.log_metric("lr", 0.1 * 0.999**step)
            live.next_step()


def save_notebook(widgets: list, path: Path) -> None:
    """Write what the front end saves: each cell's display output and the widget manager state."""
    cells = []
    for index, widget in enumerate(widgets):
        data, metadata = widget._repr_mimebundle_()
        output = nbformat.v4.new_output("display_data", data=data, metadata=metadata)
        cells.append(nbformat.v4.new_code_cell(f"plot_{index}.display()", outputs=[output]))
    state = {"version_major": 2, "version_minor": 0,
             "state": ipywidgets.embed.dependency_state(widgets, drop_defaults=False)}
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": state}
    nbformat.validate(notebook)
    nbformat.write(notebook, str(path))


def test_twenty_live_plots_stay_under_five_megabytes(tmp_path: Path) -> None:
    log_training(tmp_path / "logs")
    plots = []
    for _ in range(PLOTS):
        plot = LiveMetricsPlot(tmp_path / "logs")
        plot.stop()  # final read: the series the saved notebook holds
        plots.append(plot)
    assert len(plots[0].points("loss")) == STEPS
    assert all(len(points) <= plots[0].max_points + 1 for points in plots[0].series.values())

    notebook = tmp_path / "twenty-plots.ipynb"
    save_notebook(plots, notebook)
    size = notebook.stat().st_size
    print(f"\n20 live plots x 4 metrics x {STEPS} steps: {size / 1024:.0f} KiB on disk")
    assert size < LIMIT

    saved = json.loads(notebook.read_text())
    state = saved["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    plot_states = [s["state"] for s in state.values() if s["state"].get("_anywidget_id", "").endswith("LiveMetricsPlot")]
    assert len(plot_states) == PLOTS
    assert set(json.loads(plot_states[0]["series_json"])) == {"acc", "loss", "lr", "val/loss"}
    assert all("<svg" in "".join(cell["outputs"][0]["data"]["text/html"]) for cell in saved["cells"])


def test_a_thousand_row_table_saves_compactly(tmp_path: Path) -> None:
    """The table widget's state for 1,000 experiments is a plain list of records, not a rendered page."""
    from datetime import datetime, timezone

    from jupyter_exp.experiments.table import ExpRow, ExpTable

    base = "b" * 40
    rows = [ExpRow("workspace", None, "workspace", None, None, None, {"params.yaml": {"lr": 0.1}}, {}, "", "workspace"),
            ExpRow(base, "main", "baseline", base, None, datetime(2024, 1, 1, tzinfo=timezone.utc),
                   {"params.yaml": {"lr": 0.1}}, {}, "", "main")]
    for i in range(1_000):
        rows.append(ExpRow(f"{i:040x}", f"exp-{i:05x}", "experiment", base, base,
                           datetime(2024, 1, 2, tzinfo=timezone.utc),
                           {"params.yaml": {"lr": i / 1000, "epochs": 10, "model.depth": i % 7}},
                           {"metrics.json": {"loss": 1 / (i + 1), "acc": i / 1000}}, "├── ", f"exp-{i:05x}"))
    table = ExperimentsTable(ExpTable(rows))
    notebook = tmp_path / "table.ipynb"
    save_notebook([table], notebook)
    size = notebook.stat().st_size
    print(f"\n1,000-row experiments table: {size / 1024:.0f} KiB on disk")
    assert size < 1.5 * 1024 * 1024
