"""``examples/quickstart.ipynb`` in a real JupyterLab, run from the Run menu in headless Chromium.

What a person sees after Run All: live metrics plots drawn by the widget's JavaScript, and the
``%exp_show`` experiments table, whose metric headers sort the experiments when clicked.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import pytest

if TYPE_CHECKING:
    from conftest import LabServer  # tests/browser/conftest.py

pytestmark = pytest.mark.browser

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOTEBOOK = "quickstart.ipynb"
EXPERIMENTS = 3  # fast-lr, an auto-named one and bg-run
NAMED = ("fast-lr", "bg-run")
LOSS_COLUMN = "metrics:logs.json:loss"
# The widgets' views: diff tables and static fallbacks share the class names but are <table>s / .jx-static.
TABLE = "div.jx-table"
LIVE_PLOT = "div.jx-live-plot:not(.jx-static)"
RUN_TIMEOUT_MS = 90_000


def copy_quickstart(root: Path) -> Path:
    """The notebook and the ``quickstart/`` scripts folder it copies into its repository."""
    shutil.copy(EXAMPLES / NOTEBOOK, root / NOTEBOOK)
    shutil.copytree(
        EXAMPLES / "quickstart", root / "quickstart", ignore=shutil.ignore_patterns("__pycache__")
    )
    return root / NOTEBOOK


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
    """Every code cell has run: each input prompt shows an execution count and the kernel is idle."""
    page.wait_for_function(
        """count => {
            const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt')];
            return prompts.length === count && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""",
        arg=count,
        timeout=RUN_TIMEOUT_MS,
    )
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=30_000)


def screenshot_in_notebook(page: Any, element: Any, path: Path) -> None:
    """The JupyterLab window with ``element`` scrolled into view, once the scrolled-to cells are painted.

    (JupyterLab lays out off-screen cells lazily: a shot taken in the same frame as the scroll is blank.)
    """
    element.scroll_into_view_if_needed()
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    page.screenshot(path=str(path))


def check_widgets(page: Any, artifacts: Path) -> tuple[list[str], list[str]]:
    """What both front ends must show after Run All: no stderr, drawn live plots, the table with one row
    per experiment, and a loss header that sorts rows both ways. Returns (rows, rows sorted by loss)."""
    stderr = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert not stderr.count(), f"stderr/error outputs: {stderr.all_inner_texts()}"

    plots = page.locator(LIVE_PLOT)
    assert plots.count() >= EXPERIMENTS, f"{plots.count()} live plots rendered"
    for index in range(plots.count()):
        line = plots.nth(index).locator("svg.jx-live-panel[data-metric='loss'] polyline.jx-live-line")
        drawn = (line.get_attribute("points") or "").split()
        assert len(drawn) >= 2, f"live plot {index}: loss line points {drawn!r}"
    screenshot_in_notebook(page, plots.first, artifacts / "notebook-live-plot.png")
    plots.first.screenshot(path=str(artifacts / "live-plot.png"))

    table = page.locator(TABLE)
    table.wait_for(state="visible", timeout=30_000)
    screenshot_in_notebook(page, table, artifacts / "notebook-table.png")
    shown = experiment_revs(page)
    assert len(shown) == EXPERIMENTS, f"rows: {row_order(page)}"
    assert all(name in table.inner_text() for name in NAMED), table.inner_text()
    loss = {rev: float(text) for rev, text in loss_by_rev(page).items() if rev in shown}
    assert len(set(loss.values())) == EXPERIMENTS, f"losses: {loss}"

    header = table.locator(f'.jx-th[data-col="{LOSS_COLUMN}"]')
    header.click()
    page.wait_for_selector(f'{TABLE} .jx-th.jx-sorted.jx-asc[data-col="{LOSS_COLUMN}"]', timeout=10_000)
    ascending = experiment_revs(page)
    header.click()
    page.wait_for_selector(f'{TABLE} .jx-th.jx-sorted.jx-desc[data-col="{LOSS_COLUMN}"]', timeout=10_000)
    descending = experiment_revs(page)
    table.screenshot(path=str(artifacts / "table-sorted-desc.png"))

    assert [loss[rev] for rev in ascending] == sorted(loss.values()), (shown, ascending, loss)
    assert descending == ascending[::-1]
    return shown, ascending


def test_quickstart_runs_in_jupyterlab_and_the_widgets_work(
    chromium: Any, lab_server: LabServer, artifacts: Path
) -> None:
    notebook = copy_quickstart(lab_server.root)
    code_cells = sum(cell.cell_type == "code" for cell in nbformat.read(str(notebook), as_version=4).cells)
    page = chromium.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda err: console.append(f"pageerror: {err}"))

    def context() -> str:
        """What the failure message needs: browser console errors, a screenshot, the server's log."""
        shots = artifacts / "failure.png"
        try:
            page.screenshot(path=str(shots))
        except Exception as err:  # a crashed page still has a console and a server log to show
            shots = Path(f"(no screenshot: {err})")
        errors = [line for line in console if line.startswith(("error", "pageerror", "warning"))]
        return (
            f"\nbrowser console ({len(console)} messages, errors/warnings shown):\n"
            + ("\n".join(errors[-40:]) or "(none)")
            + f"\nscreenshot: {shots}\nserver log tail:\n{lab_server.log_tail(2000)}"
        )

    try:
        started = time.monotonic()
        page.goto(lab_server.tree_url(NOTEBOOK), timeout=60_000)
        wait_for_kernel(page)
        run_all_cells(page)
        wait_for_cells(page, code_cells)
        ran_in = time.monotonic() - started

        shown, ascending = check_widgets(page, artifacts)
        print(
            f"\n{code_cells} code cells ran in JupyterLab in {ran_in:.1f} s; experiment rows {shown}, "
            f"after sorting by loss {ascending}"
        )
    except Exception as err:
        pytest.fail(f"{type(err).__name__}: {err}{context()}")
    finally:
        (artifacts / "console.log").write_text("\n".join(console))
        page.close()
