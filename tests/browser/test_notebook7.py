"""``examples/quickstart.ipynb`` in Jupyter Notebook 7 (not the lab shell), run from its Run menu in Chromium.

Notebook 7 builds on JupyterLab's components but is its own application (one document per tab, its
own menus and toolbar), so the widgets' front-end code must load and draw there as well: live plots
with a drawn loss line, and the experiments table whose metric headers sort the experiments.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import pytest
from test_lab_quickstart import (  # the same notebook and widgets as the JupyterLab test
    NOTEBOOK,
    RUN_TIMEOUT_MS,
    check_widgets,
    copy_quickstart,
    wait_for_kernel,
)

if TYPE_CHECKING:
    from conftest import LabServer  # tests/browser/conftest.py

pytestmark = pytest.mark.browser


def run_all_cells(page: Any) -> None:
    """Run > Run All Cells from Notebook 7's menu bar, as a person would."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def wait_for_cells(page: Any, count: int) -> None:
    """Every code cell shows an execution count and the kernel went back to idle."""
    page.wait_for_function(
        """count => {
            const prompts = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt')];
            const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
            return prompts.length === count && prompts.every(p => /\\[\\d+\\]/.test(p.textContent))
                && kernel.status === "idle";
        }""",
        arg=count,
        timeout=RUN_TIMEOUT_MS,
    )


def test_quickstart_runs_in_notebook7_and_the_widgets_work(
    chromium: Any, notebook_server: LabServer, artifacts: Path
) -> None:
    notebook = copy_quickstart(notebook_server.root)
    code_cells = sum(cell.cell_type == "code" for cell in nbformat.read(str(notebook), as_version=4).cells)
    page = chromium.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda err: console.append(f"pageerror: {err}"))

    def context() -> str:
        """What the failure message needs: browser console errors, a screenshot, the server's log."""
        shot = artifacts / "failure.png"
        try:
            page.screenshot(path=str(shot), full_page=True)
        except Exception as err:  # a crashed page still has a console and a server log to show
            shot = Path(f"(no screenshot: {err})")
        errors = [line for line in console if line.startswith(("error", "pageerror", "warning"))]
        return (
            f"\nbrowser console ({len(console)} messages, errors/warnings shown):\n"
            + ("\n".join(errors[-40:]) or "(none)")
            + f"\nscreenshot: {shot}\nserver log tail:\n{notebook_server.log_tail(2000)}"
        )

    try:
        started = time.monotonic()
        page.goto(notebook_server.notebook_url(NOTEBOOK), timeout=60_000)
        wait_for_kernel(page)
        loaded = len(console)
        run_all_cells(page)
        wait_for_cells(page, code_cells)
        ran_in = time.monotonic() - started
        # Notebook 7.6 itself logs a TypeError (reading 'schema') and yjs warnings while loading, even
        # with every third-party extension disabled; anything the widgets log comes after Run All.
        errors = [line for line in console[loaded:] if line.startswith(("error", "pageerror"))]
        assert not errors, f"browser errors while the cells ran: {errors}"

        shown, ascending = check_widgets(page, artifacts)
        print(
            f"\n{code_cells} code cells ran in Notebook 7 in {ran_in:.1f} s; experiment rows {shown}, "
            f"after sorting by loss {ascending}"
        )
    except Exception as err:
        pytest.fail(f"{type(err).__name__}: {err}{context()}")
    finally:
        (artifacts / "console.log").write_text("\n".join(console))
        page.close()
