"""exp run / show / diff on a real pipeline, checked with the ``git`` CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from jupyter_exp.errors import ExperimentError, YAMLFileError
from jupyter_exp.experiments import Experiments
from jupyter_exp.experiments.refs import ExpRef

from .conftest import fsck, git


def test_run_commits_on_an_experiment_ref_and_moves_nothing(
    exps: Experiments, project: Path, logs: list[str]
) -> None:
    head = git(project, "rev-parse", "HEAD")
    result = exps.run(["train.lr=0.2"])
    assert re.fullmatch(r"exp-[0-9a-f]{5}", result.name)
    assert result.ref == f"refs/exps/{head[:2]}/{head[2:]}/{result.name}"
    assert git(project, "rev-parse", result.ref) == result.rev
    assert git(project, "rev-parse", f"{result.rev}^") == head
    assert git(project, "rev-parse", "HEAD") == head
    assert git(project, "branch", "--list") == "* main"
    assert result.stages == ["prepare", "train"]
    assert logs[-2:] == [
        f"Reproduced experiment(s): {result.name}",
        "Experiment results have been applied to your workspace.",
    ]
    files = git(project, "ls-tree", "-r", "--name-only", result.rev).splitlines()
    assert {"dvc.lock", "metrics.json", "params.yaml", ".gitignore"} <= set(files)
    assert "model.txt" not in files and "data.txt" not in files  # cached outputs: in the lock, not Git
    assert "lr: 0.2  # learning rate" in git(project, "show", f"{result.rev}:params.yaml")
    assert json.loads((project / "metrics.json").read_text())["acc"] == 1.0  # applied to the workspace
    fsck(project)


def test_identical_rerun_reuses_the_experiment(exps: Experiments, project: Path) -> None:
    first = exps.run(["train.lr=0.2"])
    again = exps.run()
    assert again.reused and again.name == first.name and again.rev == first.rev
    refs = git(project, "for-each-ref", "--format=%(refname)", "refs/exps").splitlines()
    assert [ref for ref in refs if "/exec/" not in ref] == [first.ref]


def test_names_clashes_and_force(exps: Experiments, project: Path) -> None:
    exps.run(["train.lr=0.2"], name="fast")
    with pytest.raises(ExperimentError, match="conflicts with existing experiment 'fast'"):
        exps.run(["train.lr=0.3"], name="fast")
    assert "lr: 0.2" in (project / "params.yaml").read_text()  # refused before touching anything
    result = exps.run(["train.lr=0.3"], name="fast", force=True)
    assert git(project, "show", f"{result.ref}:params.yaml").count("lr: 0.3") == 1
    for bad in ("has space", "a/b", "x..y", "-dash", "end.lock", "q?"):
        with pytest.raises(ExperimentError, match="Invalid experiment name"):
            exps.run(name=bad)


def test_param_override_errors_name_file_and_key(exps: Experiments) -> None:
    with pytest.raises(YAMLFileError, match="params.yaml.*train.nope"):
        exps.run(["train.nope=1"])
    with pytest.raises(ExperimentError, match="'other.yaml'"):
        exps.run(["other.yaml:x=1"])


def test_show_rows_glyphs_and_values(exps: Experiments, project: Path) -> None:
    a = exps.run(["train.lr=0.2"])
    b = exps.run(["train.lr=0.3", "train.epochs=2"])
    table = exps.show()
    labels = [row.experiment for row in table.rows]
    assert labels[:2] == ["workspace", "main"]
    assert [row.glyph for row in table.rows[2:]] == ["├── ", "└── "]  # newest first (same second: any order)
    assert {row.label for row in table.rows[2:]} == {a.name, b.name}
    kinds = [row.kind for row in table.rows]
    assert kinds == ["workspace", "baseline", "experiment", "experiment"]
    by_name = {row.name: row for row in table.rows}
    assert by_name[a.name].metrics["metrics.json"] == {"acc": 1.0, "loss.train": 0.8}
    assert by_name[b.name].params["params.yaml"] == {"prepare.size": 10, "train.lr": 0.3, "train.epochs": 2}
    assert by_name["main"].metrics == {}  # the baseline never ran
    assert table.rows[0].metrics["metrics.json"]["acc"] == 0.6  # workspace = last run
    assert table.metric_columns() == [("metrics.json", "acc"), ("metrics.json", "loss.train")]
    records = table.to_records()
    assert {r["Experiment"][4:]: r["acc"] for r in records[2:]} == {a.name: 1.0, b.name: 0.6}
    md = table.to_markdown()
    assert (
        md.splitlines()[0]
        == "| Experiment | Created | acc | loss.train | prepare.size | train.lr | train.epochs |"
    )

    filtered = exps.show(include_params=["train.*"], exclude_metrics=["loss*"], only_changed=True)
    assert filtered.param_columns() == [("params.yaml", "train.lr"), ("params.yaml", "train.epochs")]
    assert filtered.metric_columns() == [("metrics.json", "acc")]
    ordered = exps.show(sort_by="acc", sort_order="asc")
    assert [row.name for row in ordered.rows[2:]] == [b.name, a.name]
    assert [row.glyph for row in ordered.rows[2:]] == ["├── ", "└── "]


def test_show_reads_the_commit_cache_without_git_objects(exps: Experiments, project: Path) -> None:
    a = exps.run(["train.lr=0.2"])
    exps.show()
    cache = json.loads((project / ".dvc" / "tmp" / "jupyter-exp" / "commits.json").read_text())
    assert a.rev in cache["commits"]
    cache["commits"][a.rev]["m"]["metrics.json"]["acc"] = 42  # proves the row comes from the cache
    (project / ".dvc" / "tmp" / "jupyter-exp" / "commits.json").write_text(json.dumps(cache))
    fresh = Experiments(exps.pipeline, exps.git)
    assert {r.name: r for r in fresh.show().rows}[a.name].metrics["metrics.json"]["acc"] == 42


def test_show_more_baselines(exps: Experiments, project: Path) -> None:
    exps.run(["train.lr=0.2"])
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "promote")
    table = exps.show(num=2)
    assert [row.kind for row in table.rows] == ["workspace", "baseline", "baseline", "experiment"]
    assert table.rows[1].label == "main"
    assert table.rows[2].label == git(project, "rev-parse", "--short=7", "HEAD^")


def test_diff_workspace_against_head_and_between_experiments(exps: Experiments, project: Path) -> None:
    a = exps.run(["train.lr=0.2"])
    b = exps.run(["train.lr=0.4"])
    result = exps.diff()
    assert result.params["params.yaml"]["train.lr"].old == 0.1
    assert result.params["params.yaml"]["train.lr"].new == 0.4
    assert result.metrics["metrics.json"]["acc"].old is None  # HEAD has no metrics yet
    between = exps.diff(a.name, b.name)
    assert between.metrics["metrics.json"]["acc"].change == pytest.approx(1.0)
    header, rows = between.rows("metrics")
    assert header == ["Path", "Metric", a.name, b.name, "Change"]  # the revisions, as DVC 3 titles them
    assert rows[0] == ["metrics.json", "acc", "1", "2", "1"]
    header, rows = between.rows("params")
    assert header == ["Path", "Param", a.name, b.name, "Change"]
    assert rows == [["params.yaml", "train.lr", "0.2", "0.4", "0.2"]]
    assert "train.epochs" not in between.params["params.yaml"]
    assert "train.epochs" in exps.diff(a.name, b.name, include_all=True).params["params.yaml"]


def test_experiment_ref_layout(project: Path) -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    info = ExpRef(sha, "exp-abcde")
    assert str(info) == "refs/exps/01/23456789abcdef0123456789abcdef01234567/exp-abcde"
    assert ExpRef.parse(str(info)) == info
    assert ExpRef.parse("refs/exps/exec/EXEC_BRANCH") is None
    assert ExpRef.parse("refs/exps/stash") is None
