"""anywidget front ends: the live metrics plot and the interactive experiments table.

Imported lazily: ``anywidget`` pulls in ipywidgets, which a plain ``import jupyter_exp.notebook`` should not pay for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jupyter_exp.notebook.widgets.live_plot import LiveMetricsPlot
    from jupyter_exp.notebook.widgets.table import ExperimentsTable

__all__ = ["ExperimentsTable", "LiveMetricsPlot"]


def __getattr__(name: str) -> Any:
    if name == "LiveMetricsPlot":
        from jupyter_exp.notebook.widgets.live_plot import LiveMetricsPlot

        return LiveMetricsPlot
    if name == "ExperimentsTable":
        from jupyter_exp.notebook.widgets.table import ExperimentsTable

        return ExperimentsTable
    raise AttributeError(name)
