"""The real DVC 3 CLI and jupyter-exp read each other's experiments in the same repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_dvc  # tests/conftest.py: the reference DVC, when installed

from jupyter_exp.experiments import Experiments

pytestmark = pytest.mark.dvc


def test_dvc_exp_show_lists_our_experiments_with_our_metrics(exps: Experiments, project: Path) -> None:
    ours = {exps.run(["train.lr=0.2"]).name: 1.0, exps.run(["train.lr=0.3"], name="named").name: 1.5}
    shown = json.loads(run_dvc(project, "exp", "show", "--json"))
    baseline = shown[1]
    assert baseline["name"] == "main"
    found = {
        group["name"]: group["revs"][0]["data"]["metrics"]["metrics.json"]["data"]["acc"]
        for group in baseline["experiments"]
    }
    assert found == ours


def test_we_list_experiments_dvc_made(exps: Experiments, project: Path) -> None:
    run_dvc(project, "exp", "run", "-S", "train.lr=0.4", "-n", "from-dvc")
    rows = {row.name: row for row in exps.show().rows}
    assert rows["from-dvc"].glyph == "└── "
    assert rows["from-dvc"].params["params.yaml"]["train.lr"] == 0.4
    assert rows["from-dvc"].metrics["metrics.json"]["acc"] == 2.0
