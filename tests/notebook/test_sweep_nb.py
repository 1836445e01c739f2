"""``examples/sweep.ipynb`` on a real kernel (nbclient): a notebook stage run by papermill, a grid and a real
Optuna search from cells, the trials in the table widget with the best one marked."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import outputs_text, run_notebook

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_notebook(EXAMPLES / "sweep.ipynb", tmp_path_factory.mktemp("nb") / "sweep.ipynb")


def text(executed: dict[str, Any], first_line: str) -> str:
    return outputs_text(executed["cells"][first_line])


def test_runs_top_to_bottom_without_errors(executed: dict[str, Any]) -> None:
    for code in executed["cells"].values():
        assert all(o["output_type"] != "error" for o in code.outputs), outputs_text(code)
        assert "Traceback" not in outputs_text(code)


def test_the_notebook_becomes_a_stage_and_runs_with_the_params(executed: dict[str, Any]) -> None:
    added = text(
        executed, "%%stage train --notebook train.ipynb -p train.lr,train.alpha,train.epochs --live logs"
    )
    assert "Added stage 'train'" in added and "papermill train.ipynb train.out.ipynb" in added
    repro = text(executed, "%repro")
    assert "Running stage 'train'" in repro and "lr=0.01 alpha=0.0001 epochs=5: acc" in repro
    assert "up to date" in text(executed, "# The baseline the experiments branch from.")


def test_the_grid_queues_and_runs_the_product(executed: dict[str, Any]) -> None:
    queued = text(executed, "%exp_run --queue -S 'train.lr=0.001,0.1' -S 'train.epochs=range(3,5)' -n grid")
    assert "Queued 4 experiments" in queued
    assert [f"grid-{i}" in queued for i in range(1, 5)] == [True] * 4
    ran = text(executed, "%exp_run --run-all -j 2")
    assert "ERROR" not in ran and ran.count("Reproduced experiment(s): grid-") == 4


def test_the_optuna_sweep_runs_trials_as_experiments(executed: dict[str, Any]) -> None:
    swept = text(
        executed,
        "%exp_sweep --optuna 6 -S 'train.lr=loguniform(1e-4,1e-1)' -S 'train.alpha=loguniform(1e-6,1e-2)' --objective acc --direction maximize -j 2 --seed 0",
    )
    match = re.search(
        r"Study '(sweep-[0-9a-f]{5})': best trial (\d+) \((sweep-[0-9a-f]{5}-\d+), acc = ([0-9.]+)\)", swept
    )
    assert match, swept
    study, number, best, value = match.groups()
    assert best == f"{study}-{number}"
    values = [float(v) for v in re.findall(r"\): acc = ([0-9.]+)", swept)]
    assert (
        len(values) + swept.count("pruned at step") + swept.count("failed:") == 6 and "failed:" not in swept
    )
    assert float(value) == max(values)

    table = executed["cells"]["from jupyter_exp.repo import Repo"].outputs[-1]["data"]
    assert WIDGET_VIEW in table
    marked = [line for line in table["text/plain"].splitlines() if "★" in line]
    assert len(marked) == 1 and best in marked[0]
    grid_rows = [line for line in table["text/plain"].splitlines() if "grid-" in line]
    assert len(grid_rows) == 4
