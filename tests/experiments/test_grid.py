"""Grids with DVC 3's syntax (``-S 'lr=0.1,0.2' -S 'epochs=range(1,3)'``) on the real two-stage pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_exp.errors import ExperimentError
from jupyter_exp.experiments import Experiments
from jupyter_exp.experiments.grid import expand
from jupyter_exp.experiments.queue import entries

from .conftest import fsck, git

GRID = ["train.lr=0.1,0.2", "train.epochs=range(1,3)"]


def trained(exps: Experiments) -> dict[str, tuple[float, int, float]]:
    """Experiment name -> (lr, epochs, acc) as ``exp show`` reads them from the commits."""
    return {
        row.name: (
            row.params["params.yaml"]["train.lr"],
            row.params["params.yaml"]["train.epochs"],
            row.metrics["metrics.json"]["acc"],
        )
        for row in exps.show().rows
        if row.kind == "experiment"
    }


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["a=1,2", "b=x"], [["a=1", "b=x"], ["a=2", "b=x"]]),
        (["a=range(3)"], [["a=0"], ["a=1"], ["a=2"]]),
        (["f.yaml:a=range(10,4,-3)"], [["f.yaml:a=10"], ["f.yaml:a=7"]]),
        (["a=range(0,0.35,0.1)"], [["a=0.0"], ["a=0.1"], ["a=0.2"], ["a=0.3"]]),
        (["a=choice(adam,'s,gd')"], [["a=adam"], ["a='s,gd'"]]),
        (["a=[1,2]", "b='x,y'", "~c"], [["a=[1,2]", "b='x,y'", "~c"]]),  # one value each: no sweep
    ],
)
def test_the_grammar_is_dvc_3s(overrides: list[str], expected: list[list[str]]) -> None:
    assert expand(overrides) == expected


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("a=1,,2", "empty value"),
        ("a=range(1,x)", "not 'x'"),
        ("a=range(1,5,0)", "step"),
        ("a=range()", "use range"),
    ],
)
def test_bad_sweeps_name_the_override(override: str, message: str) -> None:
    with pytest.raises(ExperimentError, match=message) as error:
        expand([override])
    assert override in str(error.value)


def test_queue_records_the_product(exps: Experiments, project: Path, baseline: str) -> None:
    results = exps.grid(GRID, name="g", queue=True)
    assert [r.name for r in results] == ["g-1", "g-2", "g-3", "g-4"]
    queued = {e.name: e for e in entries(exps.git)}
    params = {
        name: git(project, "show", f"{queued[name].id}:params.yaml").split("train:")[1] for name in queued
    }
    assert params == {
        "g-1": "\n  lr: 0.1  # learning rate\n  epochs: 1",
        "g-2": "\n  lr: 0.1  # learning rate\n  epochs: 2",
        "g-3": "\n  lr: 0.2  # learning rate\n  epochs: 1",
        "g-4": "\n  lr: 0.2  # learning rate\n  epochs: 2",
    }
    assert git(project, "status", "--porcelain") == ""  # the workspace is untouched
    assert [r.error for r in exps.run_all(jobs=2)] == [None] * 4
    assert trained(exps) == {
        "g-1": (0.1, 1, 0.1),
        "g-2": (0.1, 2, 0.2),
        "g-3": (0.2, 1, 0.2),
        "g-4": (0.2, 2, 0.4),
    }
    fsck(project)


def test_without_queue_the_product_runs_in_turn(exps: Experiments, project: Path, baseline: str) -> None:
    results = exps.grid(["train.lr=0.3,0.4"])
    assert len({r.name for r in results}) == 2 and all(r.stages == ["train"] for r in results)
    assert sorted(trained(exps).values()) == [(0.3, 5, 1.5), (0.4, 5, 2.0)]
    assert "lr: 0.4  # learning rate" in (project / "params.yaml").read_text()  # the last one's workspace
    fsck(project)


def test_a_grid_is_not_one_experiment(exps: Experiments, baseline: str) -> None:
    with pytest.raises(ExperimentError, match="grid"):
        exps.run(GRID)


def test_cli_words_queue_and_run_a_grid(run_cli, project: Path, baseline: str) -> None:  # noqa: ANN001
    queued = run_cli("exp", "run", "--queue", "-S", "train.lr=0.1,0.2", "-S", "train.epochs=range(1,3)")
    assert queued.code == 0, queued.err
    assert queued.out.count("Queued experiment") == 4 and "Queued 4 experiments" in queued.out
    ran = run_cli("run", "-S", "train.epochs=range(2,4)", "-n", "e")
    assert ran.code == 0, ran.err
    assert "Ran 2 experiments: e-1, e-2" in ran.out
    bad = run_cli("run", "-S", "train.lr=0.1,")
    assert bad.code != 0 and "train.lr=0.1," in bad.err
