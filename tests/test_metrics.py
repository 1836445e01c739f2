"""metrics show/diff over real files: Git commits (dulwich) and the workspace."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import commit_files, write_files
from dulwich import porcelain

from jupyter_exp.errors import YAMLFileError
from jupyter_exp.fsutil import WorkspaceTree
from jupyter_exp.metrics import (
    diff_json,
    diff_metrics,
    read_metrics,
    render_metrics_diff,
    render_metrics_show,
    show_metrics,
)
from jupyter_exp.scm.git import Git

DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    metrics:
      - scores.json:
          cache: false
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    porcelain.init(str(root))
    commit_files(root, {"dvc.yaml": DVC_YAML, "scores.json": '{"auc": 0.9643, "loss": 0.25, "name": "m1"}'}, "v1")
    commit_files(root, {"scores.json": '{"auc": 0.9627, "loss": 0.25, "name": "m2", "extra": {"f1": 0.5}}'}, "v2")
    return root


def test_diff_between_commits_has_the_release_layout(repo: Path) -> None:
    git = Git(repo)
    rows = diff_metrics(git.tree("HEAD~1"), git.tree("HEAD"))
    assert [(r.key, r.old, r.new) for r in rows] == [
        ("auc", 0.9643, 0.9627),
        ("extra.f1", None, 0.5),
        ("name", "m1", "m2"),
    ]
    assert rows[0].change == pytest.approx(-0.0016)
    assert rows[2].change is None
    assert render_metrics_diff(rows, revs=("HEAD~1", "HEAD")) == (
        "Path         Metric    HEAD~1    HEAD    Change\n"
        "scores.json  auc       0.9643    0.9627  -0.0016\n"
        "scores.json  extra.f1  -         0.5     -\n"
        "scores.json  name      m1        m2      -"
    )


def test_diff_commit_against_workspace_and_all(repo: Path) -> None:
    write_files(repo, {"scores.json": '{"auc": 0.97, "loss": 0.25, "name": "m2", "extra": {"f1": 0.5}}'})
    rows = diff_metrics(Git(repo).tree("HEAD"), WorkspaceTree(repo))
    assert [(r.key, r.old, r.new) for r in rows] == [("auc", 0.9627, 0.97)]
    everything = diff_metrics(Git(repo).tree("HEAD"), WorkspaceTree(repo), all=True)
    assert [r.key for r in everything] == ["auc", "extra.f1", "loss", "name"]
    assert next(r for r in everything if r.key == "loss").change == 0


def test_precision_markdown_and_no_path(repo: Path) -> None:
    rows = diff_metrics(Git(repo).tree("HEAD~1"), Git(repo).tree("HEAD"), ["scores.json"])
    assert render_metrics_diff(rows[:1], precision=2) == (
        "Path         Metric    Old    New    Change\nscores.json  auc       0.96   0.96   -0.0"
    )
    assert render_metrics_diff(rows[:1], markdown=True, no_path=True) == (
        "| Metric   | Old    | New    | Change   |\n"
        "|----------|--------|--------|----------|\n"
        "| auc      | 0.9643 | 0.9627 | -0.0016  |\n"
    )
    assert render_metrics_diff([]) == ""


def test_json_shape_matches_dvc(repo: Path) -> None:
    rows = diff_metrics(Git(repo).tree("HEAD~1"), Git(repo).tree("HEAD"))
    data = json.loads(json.dumps(diff_json(rows)))
    assert data["scores.json"]["name"] == {"old": "m1", "new": "m2"}
    assert data["scores.json"]["extra.f1"] == {"old": None, "new": 0.5}
    assert data["scores.json"]["auc"]["diff"] == pytest.approx(-0.0016)


def test_file_missing_on_one_side(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    write_files(old, {"dvc.yaml": DVC_YAML})
    write_files(new, {"dvc.yaml": DVC_YAML, "scores.json": '{"acc": 1}'})
    rows = diff_metrics(WorkspaceTree(old), WorkspaceTree(new))
    assert [(r.path, r.key, r.old, r.new, r.change) for r in rows] == [("scores.json", "acc", None, 1, None)]
    gone = diff_metrics(WorkspaceTree(new), WorkspaceTree(old))
    assert render_metrics_diff(gone).splitlines()[1].split() == ["scores.json", "acc", "1", "-", "-"]


def test_show_across_revisions(repo: Path) -> None:
    git = Git(repo)
    shown = show_metrics({"HEAD~1": git.tree("HEAD~1"), "HEAD": git.tree("HEAD")})
    assert shown["HEAD"]["scores.json"]["extra.f1"] == 0.5
    assert render_metrics_show(shown) == (
        "Revision    Path         auc     extra.f1    loss    name\n"
        "HEAD~1      scores.json  0.9643  -           0.25    m1\n"
        "HEAD        scores.json  0.9627  0.5         0.25    m2"
    )
    assert render_metrics_show({"workspace": shown["HEAD"]}).splitlines()[0].split() == [
        "Path",
        "auc",
        "extra.f1",
        "loss",
        "name",
    ]
    nested = show_metrics({"HEAD": git.tree("HEAD")}, flat=False)
    assert nested["HEAD"]["scores.json"]["extra"] == {"f1": 0.5}


def test_live_summary_top_level_metrics_and_yaml(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "dvc.yaml": (
                "stages:\n  train:\n    cmd: python train.py\n    live:\n      logs:\n        summary: true\n"
                "metrics:\n  - eval/metrics.yaml\n"
            ),
            "logs.json": json.dumps({"step": 3, "loss": 0.1, "train": {"acc": 0.8}, "bad": math.nan}),
            "logs/loss.tsv": "timestamp\tstep\tloss\n1\t0\t0.5\n",
            "eval/metrics.yaml": "precision: 0.5\nrecall: 0.25\n",
        },
    )
    metrics = read_metrics(WorkspaceTree(tmp_path))
    assert metrics["logs.json"]["train.acc"] == 0.8
    assert math.isnan(metrics["logs.json"]["bad"])
    assert metrics["eval/metrics.yaml"] == {"precision": 0.5, "recall": 0.25}


def test_targets_name_files_and_folders(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "dvc.yaml": DVC_YAML,
            "scores.json": '{"auc": 1}',
            "other.json": '{"x": 2}',
            "reports/a.json": '{"y": 3}',
            "reports/deep/b.yaml": "z: 4\n",
            "reports/notes.txt": "not a metric",
        },
    )
    tree = WorkspaceTree(tmp_path)
    assert read_metrics(tree, ["other.json"]) == {"other.json": {"x": 2}}
    assert read_metrics(tree, ["reports"]) == {"reports/a.json": {"y": 3}, "reports/deep/b.yaml": {"z": 4}}
    assert read_metrics(tree, ["missing.json"]) == {}


def test_corrupt_file_names_the_file(tmp_path: Path) -> None:
    write_files(tmp_path, {"dvc.yaml": DVC_YAML, "scores.json": "{not json"})
    with pytest.raises(YAMLFileError, match="scores.json"):
        read_metrics(WorkspaceTree(tmp_path))
