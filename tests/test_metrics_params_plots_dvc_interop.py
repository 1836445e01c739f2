"""The real DVC 3 reads the same repository and reports the same metrics, params and plot data.

Runs only where a reference DVC venv exists (``@pytest.mark.dvc``, see tests/conftest.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import commit_files, run_dvc
from dulwich import porcelain

from jupyter_exp.fsutil import WorkspaceTree
from jupyter_exp.metrics import diff_json as metrics_json
from jupyter_exp.metrics import diff_metrics
from jupyter_exp.params import diff_json as params_json
from jupyter_exp.params import diff_params
from jupyter_exp.plots import plots_json
from jupyter_exp.plots.data import to_number
from jupyter_exp.scm.git import Git

pytestmark = pytest.mark.dvc

DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    params:
      - lr
      - model
    metrics:
      - scores.json:
          cache: false
    plots:
      - logs/loss.tsv:
          cache: false
plots:
  - acc.json:
      x: step
      y: acc
  - Both:
      y:
        logs/loss.tsv: loss
        acc.json: acc
"""


def dvc_json(cwd: Path, *args: str) -> Any:
    return json.loads(run_dvc(cwd, *args, "--json"))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    porcelain.init(str(root))
    (root / ".dvc").mkdir()
    commit_files(
        root,
        {
            ".dvc/config": "",
            "dvc.yaml": DVC_YAML,
            "params.yaml": "lr: 0.01\nmodel: {depth: 3, kind: tree}\nseed: 1\n",
            "scores.json": json.dumps({"auc": 0.9, "nested": {"f1": 0.5}, "name": "m1"}),
            "logs/loss.tsv": "timestamp\tstep\tloss\n1\t0\t0.9\n2\t1\t0.5\n",
            "acc.json": json.dumps([{"step": 0, "acc": 0.1}, {"step": 1, "acc": 0.3}]),
        },
        "v1",
    )
    commit_files(
        root,
        {
            "params.yaml": "lr: 0.02\nmodel: {depth: 3, kind: forest}\nseed: 2\n",
            "scores.json": json.dumps({"auc": 0.95, "nested": {"f1": 0.6}, "name": "m2", "new": 1}),
            "logs/loss.tsv": "timestamp\tstep\tloss\n1\t0\t0.8\n2\t1\t0.4\n3\t2\t0.3\n",
        },
        "v2",
    )
    return root


def _approx(data: Any) -> Any:
    if isinstance(data, dict):
        return {key: _approx(value) for key, value in data.items()}
    if isinstance(data, float):
        return pytest.approx(data)
    return data


def test_metrics_and_params_diff_json_match_dvc(repo: Path) -> None:
    git = Git(repo)
    old, new = git.tree("HEAD~1"), git.tree("HEAD")
    assert metrics_json(diff_metrics(old, new)) == _approx(
        dvc_json(repo, "metrics", "diff", "HEAD~1", "HEAD")
    )
    assert params_json(diff_params(old, new)) == _approx(dvc_json(repo, "params", "diff", "HEAD~1", "HEAD"))


def _rows(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """DVC keeps delimited-file cells as text; compare numbers as numbers."""
    return [{k: to_number(v) if isinstance(v, str) else v for k, v in row.items()} for row in values]


def test_plots_diff_data_matches_dvc(repo: Path) -> None:
    (repo / "acc.json").write_text(json.dumps([{"step": 0, "acc": 0.2}, {"step": 1, "acc": 0.5}]))
    theirs = dvc_json(repo, "plots", "diff", "HEAD")["data"]
    ours = plots_json({"workspace": WorkspaceTree(repo), "HEAD": Git(repo).tree("HEAD")})["data"]
    assert set(ours) == set(theirs) == {"logs/loss.tsv", "acc.json", "Both"}
    for plot_id, (entry,) in ours.items():
        (reference,) = theirs[plot_id]
        assert entry["revisions"] == reference["revisions"], plot_id
        key = lambda row: (row["rev"], row.get("filename::field", ""), row["step"])  # noqa: E731
        assert sorted(_rows(entry["content"]["data"]["values"]), key=key) == sorted(
            _rows(reference["content"]["data"]["values"]), key=key
        ), plot_id


def _ours(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", "from jupyter_exp.cli import run; run()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.mark.parametrize("kind", ["metrics", "params"])
@pytest.mark.parametrize("revs", [("HEAD~1", "HEAD"), ("HEAD~1",)])
def test_diff_tables_are_titled_with_the_revisions_like_dvc(
    repo: Path, kind: str, revs: tuple[str, ...]
) -> None:
    """`HEAD~1  HEAD` (or `HEAD~1  workspace`) where the release said `Old  New`; missing values are `-`.
    DVC lists files in its own collection order, so rows are compared as a set."""
    theirs = run_dvc(repo, kind, "diff", *revs).splitlines()
    ours = _ours(repo, kind, "diff", *revs).splitlines()
    assert ours[0] == theirs[0]
    assert sorted(ours[1:]) == sorted(theirs[1:])
    assert revs[0] in ours[0] and (revs[1] if len(revs) > 1 else "workspace") in ours[0]
