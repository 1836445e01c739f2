"""``examples/digits.ipynb`` (the real-ML example) runs top to bottom on a real kernel and keeps its promises.

The notebook trains a PyTorch MLP on scikit-learn's digits in a temporary Git repository; after the run the
test opens that repository with the public API and checks what a person would: experiments, checkpoint
chains, accuracy, the confusion plot, the applied experiment.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from conftest import outputs_text, run_notebook
from dulwich.repo import Repo as GitRepo

from jupyter_exp import Repo

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
EXPERIMENTS = ("lr-0.01", "lr-0.1", "lr-0.03", "lr-0.03-long")

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The notebook after a full run: cells keyed by their first line, the repository it built, its run time."""
    scratch = tmp_path_factory.mktemp("digits")
    # TMPDIR: the notebook's throw-away repository lands in pytest's tmp.
    executed = run_notebook(EXAMPLES / "digits.ipynb", scratch / "digits.ipynb", env={"TMPDIR": str(scratch)})
    workdir = Path(re.search(r"Working in (\S+)", outputs_text(executed["notebook"].cells[1])).group(1))
    assert workdir.is_relative_to(scratch)
    return {**executed, "workdir": workdir}


def cell(executed: dict[str, Any], first_line: str) -> Any:
    return executed["cells"][first_line]


def text(executed: dict[str, Any], first_line: str) -> str:
    return outputs_text(cell(executed, first_line))


@pytest.fixture(scope="module")
def table(executed: dict[str, Any]) -> dict[str, Any]:
    """``exp show`` of the repository the notebook built: rows by experiment name, checkpoints by chain tip."""
    rows = Repo(executed["workdir"]).experiments.show().rows
    chains: dict[str, list[Any]] = {}
    for row in rows:
        if row.kind == "checkpoint":
            chains.setdefault(row.checkpoint_tip, []).append(row)
    return {
        "experiments": {r.name: r for r in rows if r.kind == "experiment"},
        "chains": chains,
        "rows": rows,
    }


def test_runs_top_to_bottom(executed: dict[str, Any]) -> None:
    for code in executed["cells"].values():
        assert all(o["output_type"] != "error" for o in code.outputs), outputs_text(code)
        assert "Traceback" not in outputs_text(code)


def test_stages_are_built_from_python_and_templated_yaml_cells(executed: dict[str, Any]) -> None:
    prepare = text(executed, "%%stage prepare -p prepare.test_size,prepare.seed -o data/digits.npz")
    assert "Initialized jupyter-exp" in prepare and "Added stage 'prepare'" in prepare
    assert "python stages/prepare.py" in prepare
    assert "python src/train.py --lr 0.003 --epochs 6 --hidden 32" in text(executed, "%%stage train")
    assert "plots/confusion.csv" in text(executed, "%%stage evaluate")

    workdir = executed["workdir"]
    assert "load_digits()" in (workdir / "stages" / "prepare.py").read_text()
    train = yaml.safe_load((workdir / "dvc.yaml").read_text())["stages"]["train"]
    assert (
        train["cmd"]
        == "python src/train.py --lr ${train.lr} --epochs ${train.epochs} --hidden ${train.hidden}"
    )
    assert train["outs"] == [{"model.pt": {"checkpoint": True}}]
    assert train["live"] == {"logs": {"summary": True, "html": True}}


def test_repro_trains_with_a_live_plot(executed: dict[str, Any]) -> None:
    repro = cell(executed, "%repro")
    output = outputs_text(repro)
    assert "1347 training and 450 held-out images" in output
    assert "epoch 6: val/acc=" in output and "held-out images" in output
    plots = [o for o in repro.outputs if o["output_type"] == "display_data" and WIDGET_VIEW in o["data"]]
    assert len(plots) == 1
    for metric in ("train/loss", "val/loss", "val/acc"):
        assert metric in plots[0]["data"]["text/plain"]
    assert "(step 5)" in plots[0]["data"]["text/plain"]


def test_experiments_are_recorded_with_checkpoint_chains(
    executed: dict[str, Any], table: dict[str, Any]
) -> None:
    assert set(EXPERIMENTS) <= set(table["experiments"])
    for name in ("lr-0.01", "lr-0.1", "lr-0.03"):
        tip = table["experiments"][name]
        # one checkpoint per epoch, plus the final one holding evaluate's results
        assert len(table["chains"][tip.rev]) >= 6, name
        assert tip.metrics["logs.json"]["step"] == 5
    assert "Reproduced experiment(s): lr-0.03" in text(executed, "handle.wait()")

    show = text(executed, "%exp_show --only-changed")
    for name in ("master", *EXPERIMENTS):
        assert name in show
    diff = text(executed, "%exp_diff lr-0.01 lr-0.1")
    assert "train.lr" in diff and "accuracy" in diff


def test_resumed_experiment_continues_the_chain(executed: dict[str, Any], table: dict[str, Any]) -> None:
    output = text(executed, "%exp_run -S train.epochs=10 -n lr-0.03-long")
    assert "Modified checkpoint experiment based on 'lr-0.03' will be created" in output
    assert "training epochs 7..10" in output and "epoch 1:" not in output
    long = table["experiments"]["lr-0.03-long"]
    assert long.metrics["logs.json"]["step"] == 9 and long.metrics["metrics.json"]["epochs"] == 10

    git = GitRepo(str(executed["workdir"]))
    history = {entry.commit.id.decode() for entry in git.get_walker(include=[long.rev.encode()])}
    assert table["experiments"]["lr-0.03"].rev in history  # the new checkpoints sit on top of lr-0.03's


def test_models_learn(table: dict[str, Any]) -> None:
    accuracy = {name: row.metrics["metrics.json"]["accuracy"] for name, row in table["experiments"].items()}
    assert max(accuracy.values()) > 0.95, accuracy
    assert all(value > 0.85 for value in accuracy.values()), accuracy


def test_plots_diff_draws_curves_and_the_confusion_matrix(executed: dict[str, Any]) -> None:
    plots = cell(executed, "%plots_diff lr-0.01 lr-0.1")
    page = next(o for o in plots.outputs if o["output_type"] == "display_data")["data"]["text/html"]
    assert page.startswith('<iframe class="jx-plots" srcdoc=')
    page = html.unescape(page)
    for figure in ("logs/val/acc.tsv", "logs/train/loss.tsv", "plots/confusion.csv"):
        assert f"<figcaption>{figure}</figcaption>" in page
    for rev in ("lr-0.01", "lr-0.1"):
        assert f"{rev} · actual=3 · predicted=3 · " in page  # one matrix per experiment


def test_the_best_experiment_is_applied(executed: dict[str, Any], table: dict[str, Any]) -> None:
    accuracy = {name: row.metrics["metrics.json"]["accuracy"] for name, row in table["experiments"].items()}
    best = max(accuracy, key=accuracy.__getitem__)
    assert f"best: {best} " in text(executed, "from jupyter_exp import Repo")
    applied = text(executed, "%exp_apply lr-0.01")
    assert best == "lr-0.01" and "Changes for experiment 'lr-0.01' have been applied" in applied
    workdir = executed["workdir"]
    assert yaml.safe_load((workdir / "params.yaml").read_text())["train"]["lr"] == 0.01
    assert json.loads((workdir / "metrics.json").read_text())["accuracy"] == accuracy["lr-0.01"]
    assert (workdir / "model.pt").stat().st_size > 0


def test_saved_notebook_stays_small(executed: dict[str, Any]) -> None:
    size = executed["saved"].stat().st_size
    assert size < 600_000, f"{size} bytes"
    nbformat.validate(nbformat.read(executed["saved"], as_version=4))
