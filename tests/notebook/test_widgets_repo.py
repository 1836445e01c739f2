"""The experiments table on a real repository: its buttons change real refs, branches and files."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from conftest import git

from jupyter_exp.notebook.widgets import ExperimentsTable
from jupyter_exp.repo import Repo

DVC_YAML = """\
stages:
  train:
    cmd: {python} train.py
    deps: [train.py]
    params: [lr, epochs]
    metrics:
      - metrics.json:
          cache: false
    plots:
      - curve.csv:
          cache: false
          x: step
          y: loss
"""
TRAIN = """\
import json, yaml
p = yaml.safe_load(open("params.yaml"))
json.dump({"loss": round(1 - p["lr"], 4), "acc": round(p["lr"] * p["epochs"], 4)}, open("metrics.json", "w"))
with open("curve.csv", "w") as f:
    f.write("step,loss\\n" + "".join(f"{s},{(1 - p['lr']) / (s + 1):.4f}\\n" for s in range(5)))
"""


@pytest.fixture
def repo(git_repo: Path) -> Repo:
    """A committed one-stage pipeline with two experiments, exp-a (lr 0.3) and exp-b (lr 0.05)."""
    (git_repo / "dvc.yaml").write_text(DVC_YAML.format(python=sys.executable))
    (git_repo / "train.py").write_text(TRAIN)
    (git_repo / "params.yaml").write_text("lr: 0.1\nepochs: 5\n")
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    git(git_repo, "branch", "-M", "main")
    repo = Repo(git_repo)
    repo.experiments.run(["lr=0.3"], name="exp-a")
    repo.experiments.run(["lr=0.05"], name="exp-b")
    return repo


def labels(table: ExperimentsTable) -> list[str]:
    return [row["label"] for row in table.visible_rows()]


def rev_of(table: ExperimentsTable, label: str) -> str:
    return next(row["rev"] for row in table.rows if row["label"] == label)


def click(table: ExperimentsTable, action: str, *labels_: str, **extra: str) -> None:
    """What the browser sends when rows are selected and a button is pressed."""
    revs = [rev_of(table, label) for label in labels_]
    table._handle_msg({"content": {"data": {"method": "update", "state": {"selected": revs}}}, "buffers": []})
    content = {"type": "action", "action": action, "revs": revs, **extra}
    table._handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})


def test_repo_experiments_show_widget_is_the_interactive_table_with_working_buttons(repo: Repo) -> None:
    table = Repo(repo.root).experiments.show().widget()  # the core reaches the widget via an entry point
    assert isinstance(table, ExperimentsTable)
    assert sorted(labels(table)[2:]) == ["exp-a", "exp-b"]
    click(table, "apply", "exp-b")
    assert "lr: 0.05" in (repo.root / "params.yaml").read_text()


def test_table_shows_the_repos_experiments_and_sorts_them(repo: Repo) -> None:
    table = ExperimentsTable.from_repo(repo)
    assert labels(table)[:2] == ["workspace", "main"] and sorted(labels(table)[2:]) == ["exp-a", "exp-b"]
    table.sort("metrics:metrics.json:acc", descending=True)
    assert labels(table) == ["workspace", "main", "exp-a", "exp-b"]
    assert table.best == {"metrics:metrics.json:loss": 0.7, "metrics:metrics.json:acc": 1.5}
    assert [c["label"] for c in table.shown_columns()] == ["Experiment", "Created", "loss", "acc", "lr", "epochs"]
    table.only_changed = True
    assert [c["label"] for c in table.shown_columns()] == ["Experiment", "Created", "loss", "acc", "lr"]


def test_apply_branch_diff_compare_remove_from_the_buttons(repo: Repo) -> None:
    root = repo.root
    table = ExperimentsTable.from_repo(repo)

    click(table, "apply", "exp-a")
    assert "lr: 0.3" in (root / "params.yaml").read_text()
    assert "'exp-a' have been applied" in table.output

    click(table, "branch", "exp-a", name="best-lr")
    assert git(root, "rev-parse", "best-lr") == rev_of(table, "exp-a")
    assert "Git branch 'best-lr' has been created from experiment 'exp-a'" in table.output

    click(table, "diff", "exp-b")  # one row: against its baseline
    assert "| params.yaml | lr | 0.1 | 0.05 | -0.05 |" in table.output and table.last_error is None

    click(table, "diff", "exp-a", "exp-b")
    assert table.last_result.a == "exp-a" and table.last_result.b == "exp-b"

    click(table, "compare", "exp-a", "exp-b")
    assert table.last_error is None
    assert "<svg" in table.output and "exp-a" in table.output and "exp-b" in table.output

    click(table, "remove", "exp-b")
    assert labels(table) == ["workspace", "main", "exp-a"]  # refreshed from the repo
    assert repo.experiments.list() == {"main": ["exp-a"]}


def test_errors_are_shown_in_the_output_not_raised(repo: Repo) -> None:
    table = ExperimentsTable.from_repo(repo)
    click(table, "branch", "exp-a", name="dup")
    click(table, "branch", "exp-b", name="dup")
    assert "Git branch 'dup' already exists" in table.output and 'class="jx-error"' in table.output
    click(table, "apply", "exp-a", "exp-b")
    assert "select exactly one experiment" in table.output
    click(table, "branch", "exp-a")
    assert "branch needs a name" in table.output
    click(table, "remove", "workspace", "main")
    assert "not the workspace or a baseline" in table.output
    click(table, "remove", "main", "exp-a")  # the baseline in the selection is left alone
    assert labels(table) == ["workspace", "main", "exp-b"]


def test_auto_refresh_shows_an_experiment_run_after_the_table(repo: Repo) -> None:
    table = ExperimentsTable.from_repo(repo).auto_refresh(interval=0.1)
    try:
        repo.experiments.run(["lr=0.2"], name="exp-c")
        deadline = time.monotonic() + 10
        while "exp-c" not in labels(table) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "exp-c" in labels(table)
    finally:
        table.stop_auto_refresh()
