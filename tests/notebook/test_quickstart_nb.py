"""``examples/quickstart.ipynb`` runs top to bottom on a real kernel (nbclient), and its outputs say what it promises."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import outputs_text, run_notebook

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The notebook after a full run, its cells keyed by their first line."""
    return run_notebook(EXAMPLES / "quickstart.ipynb", tmp_path_factory.mktemp("nb") / "quickstart.ipynb")


def cell(executed: dict[str, Any], first_line: str) -> Any:
    return executed["cells"][first_line]


def test_runs_top_to_bottom_without_errors(executed: dict[str, Any]) -> None:
    for code in executed["cells"].values():
        assert all(o["output_type"] != "error" for o in code.outputs), outputs_text(code)
        assert "Traceback" not in outputs_text(code)


def test_templated_stage_is_built_from_a_cell(executed: dict[str, Any]) -> None:
    text = outputs_text(cell(executed, "%%stage prepare"))
    assert "Initialized jupyter-exp" in text  # the first writing magic created .dvc/
    assert "prepare@north" in text and "prepare@south" in text and "data/north.csv" in text


def test_repro_streams_output_and_plots_live_metrics(executed: dict[str, Any]) -> None:
    repro = cell(executed, "%repro")
    text = outputs_text(repro)
    assert "Running stage 'prepare@north'" in text and "wrote data/south.csv" in text
    assert "trained: w=" in text
    plots = [o for o in repro.outputs if o["output_type"] == "display_data" and WIDGET_VIEW in o["data"]]
    assert len(plots) == 1
    assert "loss: " in plots[0]["data"]["text/plain"] and "(step 7)" in plots[0]["data"]["text/plain"]
    assert "<svg" in plots[0]["data"]["text/html"]  # static fallback for nbconvert/GitHub
    assert "up to date" in outputs_text(cell(executed, "%status"))


def test_experiments_run_show_and_diff(executed: dict[str, Any]) -> None:
    run = outputs_text(cell(executed, "%exp_run -S train.lr=0.3 -n fast-lr"))
    assert "Reproduced experiment(s): fast-lr" in run
    assert "fast-lr vs baseline" in run and "train.lr" in run
    assert "still usable while it trains: 42" in outputs_text(cell(executed, "handle = %exp_run --bg -S train.lr=0.2 -n bg-run"))
    assert "Reproduced experiment(s): bg-run" in outputs_text(cell(executed, "result = handle.wait()"))

    show = cell(executed, "%exp_show")
    table = next(o for o in show.outputs if o["output_type"] == "display_data")
    for name in ("master", "fast-lr", "bg-run", "exp-"):
        assert name in table["data"]["text/plain"]
    assert WIDGET_VIEW in table["data"] and "<table" in table["data"]["text/html"]

    diff = outputs_text(cell(executed, "%exp_diff HEAD fast-lr"))
    assert "train.lr" in diff and "0.3" in diff and "loss" in diff


def test_plots_diff_is_inline(executed: dict[str, Any]) -> None:
    plots = cell(executed, "%plots_diff")
    page = next(o for o in plots.outputs if o["output_type"] == "display_data")
    assert page["data"]["text/html"].startswith('<iframe class="jx-plots" srcdoc=')
    assert "loss" in page["data"]["text/html"] and "&lt;svg" in page["data"]["text/html"]


def test_apply_brings_the_experiment_back(executed: dict[str, Any]) -> None:
    text = outputs_text(cell(executed, "%exp_apply fast-lr"))
    assert "train.lr" in text and "0.3" in text


def test_saved_notebook_stays_small(executed: dict[str, Any]) -> None:
    size = executed["saved"].stat().st_size
    assert size < 400_000, f"{size} bytes"
    json.loads(executed["saved"].read_text())  # valid JSON nbformat can read back
    nbformat.validate(nbformat.read(executed["saved"], as_version=4))
