"""params diff/show over real files: Git commits (dulwich) and the workspace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import commit_files, run_dvc, write_files
from dulwich import porcelain

from jupyter_exp.fsutil import WorkspaceTree
from jupyter_exp.params import diff_json, diff_params, read_params, render_params_diff, show_params
from jupyter_exp.scm.git import Git

DVC_YAML = """\
stages:
  prepare:
    cmd: python prepare.py
    params:
      - prepare.split
  train:
    cmd: python train.py
    params:
      - lr
      - model
      - config.json:
          - batch
      - extra.toml:
"""


BASE = {
    "dvc.yaml": DVC_YAML,
    "params.yaml": "lr: 0.01\nprepare:\n  split: 0.2\n  seed: 1\nmodel:\n  depth: 3\n  kind: tree\nunused: 5\n",
    "config.json": '{"batch": 32, "workers": 4}',
    "extra.toml": 'optimizer = "adam"\n[sched]\ngamma = 0.5\n',
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    porcelain.init(str(root))
    commit_files(root, BASE, "v1")
    commit_files(
        root,
        {
            "params.yaml": "lr: 0.02\nprepare:\n  split: 0.2\n  seed: 9\nmodel:\n  depth: 5\n  kind: forest\nunused: 6\n",
            "config.json": '{"batch": 64, "workers": 8}',
            "extra.toml": 'optimizer = "sgd"\n[sched]\ngamma = 0.5\n',
        },
        "v2",
    )
    return root


def test_diff_shows_params_yaml_whole_and_the_declared_keys_of_other_files(repo: Path) -> None:
    git = Git(repo)
    rows = diff_params(git.tree("HEAD~1"), git.tree("HEAD"))
    # As DVC 3: params.yaml whole (prepare.seed and unused are in no stage), the other files' declared
    # keys (config.json's workers is in none), a file declared without keys whole.
    assert render_params_diff(rows) == (
        "Path         Param         Old    New\n"
        "config.json  batch         32     64\n"
        "extra.toml   optimizer     adam   sgd\n"
        "params.yaml  lr            0.01   0.02\n"
        "params.yaml  model.depth   3      5\n"
        "params.yaml  model.kind    tree   forest\n"
        "params.yaml  prepare.seed  1      9\n"
        "params.yaml  unused        5      6"
    )
    assert diff_json(rows)["params.yaml"]["lr"] == {"old": 0.01, "new": 0.02, "diff": pytest.approx(0.01)}
    assert diff_json(rows)["params.yaml"]["model.kind"] == {"old": "tree", "new": "forest"}


@pytest.mark.dvc
def test_diff_json_equals_dvc(repo: Path) -> None:
    run_dvc(repo, "init", "-q")
    git = Git(repo)
    ours = diff_json(diff_params(git.tree("HEAD~1"), git.tree("HEAD")))
    theirs = json.loads(run_dvc(repo, "params", "diff", "HEAD~1", "HEAD", "--json"))
    assert ours == theirs
    assert diff_json(diff_params(git.tree("HEAD~1"), git.tree("HEAD"), deps=True)) == json.loads(
        run_dvc(repo, "params", "diff", "HEAD~1", "HEAD", "--deps", "--json")
    )


def test_deps_keeps_only_the_keys_stages_declare(repo: Path) -> None:
    git = Git(repo)
    rows = diff_params(git.tree("HEAD~1"), git.tree("HEAD"), deps=True)
    assert [(r.path, r.key) for r in rows] == [
        ("config.json", "batch"),
        ("extra.toml", "optimizer"),
        ("params.yaml", "lr"),
        ("params.yaml", "model.depth"),
        ("params.yaml", "model.kind"),
    ]
    shown = show_params({"HEAD~1": git.tree("HEAD~1")}, deps=True)
    assert shown["HEAD~1"] == {
        "params.yaml": {"prepare.split": 0.2, "lr": 0.01, "model.depth": 3, "model.kind": "tree"},
        "config.json": {"batch": 32},
        "extra.toml": {"optimizer": "adam", "sched.gamma": 0.5},
    }


def test_show_by_revision(repo: Path) -> None:
    git = Git(repo)
    shown = show_params({"HEAD~1": git.tree("HEAD~1"), "workspace": WorkspaceTree(repo)})
    assert shown["HEAD~1"]["params.yaml"] == {
        "lr": 0.01,
        "prepare.split": 0.2,
        "prepare.seed": 1,
        "model.depth": 3,
        "model.kind": "tree",
        "unused": 5,
    }
    assert shown["HEAD~1"]["config.json"] == {"batch": 32}
    assert shown["workspace"]["params.yaml"]["lr"] == 0.02


def test_targets_limit_and_extend_the_files(repo: Path) -> None:
    write_files(repo, {"config.json": '{"batch": 64, "workers": 16}'})
    rows = diff_params(Git(repo).tree("HEAD"), WorkspaceTree(repo), targets=["config.json"])
    assert [(r.path, r.key, r.old, r.new, r.change) for r in rows] == [("config.json", "workers", 8, 16, 8)]
    assert diff_params(Git(repo).tree("HEAD"), WorkspaceTree(repo), targets=["config.json"], deps=True) == []
    write_files(repo, {"new.yaml": "a: {b: 1}\n"})
    assert read_params(WorkspaceTree(repo), ["new.yaml"]) == {"new.yaml": {"a.b": 1}}


def test_missing_file_and_all(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    write_files(old, {"dvc.yaml": DVC_YAML, "params.yaml": BASE["params.yaml"]})
    write_files(new, BASE)
    rows = diff_params(WorkspaceTree(old), WorkspaceTree(new))
    assert [(r.path, r.key, r.old, r.new) for r in rows] == [
        ("config.json", "batch", None, 32),
        ("extra.toml", "optimizer", None, "adam"),
        ("extra.toml", "sched.gamma", None, 0.5),
    ]
    assert render_params_diff(rows, no_path=True).splitlines()[1].split() == ["batch", "-", "32"]
    everything = diff_params(WorkspaceTree(old), WorkspaceTree(new), all=True)
    assert len(everything) == 9
    assert render_params_diff(rows[:1], markdown=True) == (
        "| Path        | Param   | Old   | New   |\n"
        "|-------------|---------|-------|-------|\n"
        "| config.json | batch   | -     | 32    |\n"
    )


def test_templated_stages_and_top_level_params(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "dvc.yaml": (
                "params:\n  - sweep.yaml\n"
                "stages:\n  build:\n    foreach: [us, eu]\n    do:\n      cmd: echo ${item}\n"
                "      params:\n        - ${item}.threshold\n"
            ),
            "params.yaml": "us: {threshold: 1}\neu: {threshold: 2}\nother: 3\n",
            "sweep.yaml": "grid: [1, 2]\n",
        },
    )
    assert read_params(WorkspaceTree(tmp_path), deps=True) == {
        "params.yaml": {"us.threshold": 1, "eu.threshold": 2},
        "sweep.yaml": {"grid": [1, 2]},
    }
    assert read_params(WorkspaceTree(tmp_path))["params.yaml"]["other"] == 3


def test_default_params_file_without_any_stage(tmp_path: Path) -> None:
    write_files(tmp_path, {"params.yaml": "lr: 1e-3\n"})
    assert read_params(WorkspaceTree(tmp_path)) == {"params.yaml": {"lr": 0.001}}


@pytest.mark.dvc
def test_values_taken_from_vars_files_show_as_dvc_shows_them(tmp_path: Path) -> None:
    """A `vars:` file's keys that a stage uses through ${...} are params too (DVC's tracked vars)."""
    root = tmp_path / "repo"
    root.mkdir()
    porcelain.init(str(root))
    run_dvc(root, "init", "-q")
    files = {
        "config.yaml": "model:\n  lr: 0.1\n  other: 5\nunused: 1\n",
        "params.yaml": "seed: 1\n",
        "dvc.yaml": "vars:\n  - config.yaml\nstages:\n  s:\n    cmd: echo ${model.lr} > out.txt\n",
    }
    commit_files(root, files, "v1")
    write_files(root, {"config.yaml": "model:\n  lr: 0.2\n  other: 6\nunused: 2\n"})
    rows = diff_params(Git(root).tree("HEAD"), WorkspaceTree(root), all=True)
    assert diff_json(rows) == json.loads(run_dvc(root, "params", "diff", "--all", "--json"))
    assert ("config.yaml", "model.lr", 0.1, 0.2) in [(r.path, r.key, r.old, r.new) for r in rows]
