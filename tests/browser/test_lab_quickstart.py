"""Open a notebook in a real JupyterLab, run it in headless Chromium, and use the widgets it shows.

The notebook makes a Git repository with a one-stage pipeline, runs three experiments with ``%exp_run``
(each shows a live metrics plot) and ends with ``%exp_show`` (the interactive experiments table).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import pytest

if TYPE_CHECKING:
    from conftest import LabServer  # tests/browser/conftest.py

pytestmark = pytest.mark.browser

NOTEBOOK = "quickstart.ipynb"
LEARNING_RATES = [0.3, 0.02, 0.1]
LOSS_COLUMN = "metrics:logs.json:loss"
# The widgets' views (static HTML fallbacks and diff tables share the class names but are <table>s / .jx-static).
TABLE = "div.jx-table"
LIVE_PLOT = "div.jx-live-plot:not(.jx-static)"
RUN_TIMEOUT_MS = 90_000

SETUP = """\
import os
from pathlib import Path
from dulwich import porcelain

project = Path("project").resolve()
project.mkdir()
porcelain.init(str(project))
os.chdir(project)
Path("params.yaml").write_text("lr: 0.1\\nepochs: 6\\n")
"""

TRAIN = """\
%%stage train -p lr,epochs --live logs
import time
import yaml
from jupyter_exp.live import Live

params = yaml.safe_load(open("params.yaml"))
with Live("logs") as live:
    for epoch in range(params["epochs"]):
        loss = 1 / (1 + params["lr"] * (epoch + 1))
        live.log_metric("loss", loss)
        live.log_metric("acc", 1 - loss / 2)
        live.next_step()
        time.sleep(0.1)
"""

COMMIT = """\
porcelain.add(str(project), paths=[str(p) for p in project.rglob("*") if p.is_file() and ".git" not in p.parts])
porcelain.commit(str(project), message=b"baseline")
"""


def write_notebook(path: Path) -> None:
    cells = [nbformat.v4.new_code_cell(source) for source in ("%load_ext jupyter_exp", SETUP, TRAIN, COMMIT)]
    cells += [nbformat.v4.new_code_cell(f"%exp_run -S lr={lr}") for lr in LEARNING_RATES]
    cells.append(nbformat.v4.new_code_cell("%exp_show"))
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nbformat.write(notebook, str(path))


def row_order(page: Any) -> list[str]:
    """The ``data-rev`` of the table's rows, top to bottom."""
    return page.eval_on_selector_all(
        f"{TABLE} .jx-row",
        "rows => rows.sort((a, b) => a.offsetTop - b.offsetTop).map(r => r.dataset.rev)",
    )


def loss_by_rev(page: Any) -> dict[str, str]:
    return page.eval_on_selector_all(
        f'{TABLE} .jx-row .jx-td[data-col="{LOSS_COLUMN}"]',
        "cells => Object.fromEntries(cells.map(c => [c.closest('.jx-row').dataset.rev, c.textContent]))",
    )


def experiment_revs(page: Any) -> list[str]:
    """Rows of experiments (the workspace and baseline rows stay on top whatever the sort)."""
    kinds = page.eval_on_selector_all(
        f"{TABLE} .jx-row", "rows => Object.fromEntries(rows.map(r => [r.dataset.rev, r.className]))"
    )
    return [rev for rev in row_order(page) if "jx-experiment" in kinds[rev]]


def wait_for_kernel(page: Any) -> None:
    """The notebook's session has its kernel connected and idle (``Run All`` before that asks for a kernel)."""
    page.wait_for_function(
        """() => {
            const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            const session = panel && panel.sessionContext;
            const kernel = session && session.session && session.session.kernel;
            return !!kernel && session.isReady && kernel.connectionStatus === "connected" && kernel.status === "idle";
        }""",
        timeout=60_000,
    )


def run_all_cells(page: Any) -> None:
    """Run > Run All Cells, as a person would."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def wait_for_cells(page: Any, count: int) -> None:
    """Every cell has run: each input prompt shows an execution count and the kernel is idle."""
    page.wait_for_function(
        """count => {
            const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputArea-prompt')];
            return prompts.length === count && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""",
        arg=count,
        timeout=RUN_TIMEOUT_MS,
    )
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=30_000)


def test_quickstart_runs_in_jupyterlab_and_the_widgets_work(
    lab_server: LabServer, chromium: Any, artifacts: Path
) -> None:
    write_notebook(lab_server.root / NOTEBOOK)
    cells = len(nbformat.read(str(lab_server.root / NOTEBOOK), as_version=4).cells)
    page = chromium.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda err: console.append(f"pageerror: {err}"))

    def context() -> str:
        shots = artifacts / "failure.png"
        page.screenshot(path=str(shots), full_page=True)
        errors = [line for line in console if line.startswith(("error", "pageerror", "warning"))]
        return (
            f"\nbrowser console ({len(console)} messages, errors/warnings shown):\n"
            + "\n".join(errors[-40:])
            + f"\nscreenshot: {shots}\nserver log tail:\n{lab_server.log_tail(2000)}"
        )

    try:
        started = time.monotonic()
        page.goto(lab_server.tree_url(NOTEBOOK), timeout=60_000)
        wait_for_kernel(page)
        run_all_cells(page)
        wait_for_cells(page, cells)
        ran_in = time.monotonic() - started

        stderr = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        assert not stderr.count(), f"stderr/error outputs: {stderr.all_inner_texts()}" + context()

        table = page.locator(TABLE)
        table.wait_for(state="visible", timeout=30_000)
        table.scroll_into_view_if_needed()
        rows_before = row_order(page)
        experiments_before = experiment_revs(page)
        assert len(experiments_before) == len(LEARNING_RATES), f"rows: {rows_before}" + context()
        losses = loss_by_rev(page)
        assert all(re.fullmatch(r"0\.\d+", losses[rev]) for rev in experiments_before), losses
        page.screenshot(path=str(artifacts / "table.png"), full_page=False)

        plots = page.locator(LIVE_PLOT)
        assert plots.count() == len(LEARNING_RATES), context()
        first_plot = plots.first
        first_plot.scroll_into_view_if_needed()
        points = first_plot.locator("svg.jx-live-panel[data-metric='loss'] polyline.jx-live-line")
        drawn = points.get_attribute("points") or ""
        assert len(drawn.split()) == 6, f"loss line points: {drawn!r}" + context()
        first_plot.screenshot(path=str(artifacts / "live-plot.png"))

        table.scroll_into_view_if_needed()
        header = table.locator(f'.jx-th[data-col="{LOSS_COLUMN}"]')
        header.click()
        page.wait_for_selector(f'.jx-th.jx-sorted.jx-asc[data-col="{LOSS_COLUMN}"]', timeout=10_000)
        ascending = experiment_revs(page)
        header.click()
        page.wait_for_selector(f'.jx-th.jx-sorted.jx-desc[data-col="{LOSS_COLUMN}"]', timeout=10_000)
        descending = experiment_revs(page)
        table.screenshot(path=str(artifacts / "table-sorted-desc.png"))

        value = {rev: float(text) for rev, text in loss_by_rev(page).items() if rev in experiments_before}
        assert sorted(ascending) == sorted(experiments_before)
        assert [value[rev] for rev in ascending] == sorted(value.values())
        assert descending == ascending[::-1]
        assert ascending != experiments_before or descending != experiments_before
        page.screenshot(path=str(artifacts / "notebook.png"), full_page=True)
        print(
            f"\nnotebook of {cells} cells ran in JupyterLab in {ran_in:.1f} s; rows {experiments_before} -> "
            f"ascending {ascending}"
        )
    except Exception as err:
        pytest.fail(f"{type(err).__name__}: {err}{context()}")
    finally:
        (artifacts / "console.log").write_text("\n".join(console))
        page.close()
