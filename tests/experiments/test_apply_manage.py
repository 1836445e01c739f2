"""exp apply / branch / list / remove / gc / push / pull against real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_exp.errors import DirtyWorkspaceError, ExperimentError
from jupyter_exp.experiments import Experiments

from .conftest import fsck, git


def test_apply_restores_params_metrics_and_cached_outputs(
    exps: Experiments, project: Path, logs: list[str]
) -> None:
    a = exps.run(["train.lr=0.2"])
    exps.run(["train.lr=0.3"])
    assert "lr=0.3" in (project / "model.txt").read_text()
    sha = exps.apply(a.name)
    assert sha == a.rev
    assert "lr: 0.2  # learning rate" in (project / "params.yaml").read_text()
    assert '"acc": 1.0' in (project / "metrics.json").read_text()
    assert (project / "model.txt").read_text() == "model lr=0.2 epochs=5 n=10"  # from the cache
    assert logs[-1] == f"Changes for experiment '{a.name}' have been applied to your current workspace."
    assert git(project, "rev-parse", "HEAD") == a.baseline
    assert exps.pipeline.status() == {}  # the workspace is exactly the experiment


def test_apply_refuses_to_overwrite_user_changes_unless_forced(exps: Experiments, project: Path) -> None:
    a = exps.run(["train.lr=0.2"])
    exps.run(["train.lr=0.3"])
    (project / "params.yaml").write_text(
        (project / "params.yaml").read_text().replace("epochs: 5", "epochs: 9")
    )
    with pytest.raises(DirtyWorkspaceError, match="params.yaml"):
        exps.apply(a.name)
    assert "epochs: 9" in (project / "params.yaml").read_text()  # nothing changed
    exps.apply(a.name, force=True)
    assert "epochs: 5" in (project / "params.yaml").read_text()


def test_apply_unknown_revision(exps: Experiments) -> None:
    with pytest.raises(ExperimentError, match="'nope' does not appear to be an experiment"):
        exps.apply("nope")


def test_branch_message_and_git_branch(exps: Experiments, project: Path, logs: list[str]) -> None:
    a = exps.run(["train.lr=0.2"], name="big_lr")
    message = exps.branch("big_lr", "big_fr_size")
    assert message == (
        "Git branch 'big_fr_size' has been created from experiment 'big_lr'.\n"
        "To switch to the new branch run:\n\n\tgit checkout big_fr_size"
    )
    assert git(project, "rev-parse", "big_fr_size") == a.rev
    with pytest.raises(ExperimentError, match="Git branch 'big_fr_size' already exists."):
        exps.branch("big_lr", "big_fr_size")
    fsck(project)


def test_list_remove(exps: Experiments, project: Path) -> None:
    exps.run(["train.lr=0.2"], name="one")
    exps.run(["train.lr=0.3"], name="two")
    assert exps.list() == {"main": ["one", "two"]}
    assert exps.remove(["one"]) == ["one"]
    assert exps.list() == {"main": ["two"]}
    with pytest.raises(ExperimentError, match="not found: ghost"):
        exps.remove(["ghost"])
    assert exps.remove(all_commits=True) == ["two"]
    assert exps.list() == {}


def test_gc_keeps_experiments_of_kept_baselines(exps: Experiments, project: Path) -> None:
    exps.run(["train.lr=0.2"], name="old")
    git(project, "checkout", "-q", "-b", "dev")
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "next")
    exps.run(["train.lr=0.3"], name="new")
    with pytest.raises(ExperimentError, match="--workspace"):
        exps.gc()
    assert exps.gc(workspace=True, confirm=lambda question: False) == []
    assert exps.gc(all_branches=True) == []  # main still holds old's baseline
    questions: list[str] = []
    assert exps.gc(workspace=True, confirm=lambda q: questions.append(q) or True) == ["old"]
    assert "Are you sure?" in questions[0]
    assert exps.list(all=True) == {"dev": ["new"]}


def test_push_and_pull_experiments(exps: Experiments, project: Path, tmp_path: Path) -> None:
    a = exps.run(["train.lr=0.2"], name="shared")
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(project, "remote", "add", "origin", str(bare))
    git(project, "push", "-q", "origin", "main")
    assert exps.push("origin", ["shared"]) == [a.ref]
    assert git(bare, "rev-parse", a.ref) == a.rev

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    from jupyter_exp.scm.git import Git

    other = Experiments(exps.pipeline, Git(clone))
    assert other.pull("origin", ["shared"]) == [a.ref]
    assert other.list() == {"main": ["shared"]}
    with pytest.raises(ExperimentError, match="not found on remote 'origin': ghost"):
        other.pull("origin", ["ghost"])
    fsck(clone)


def test_used_objects_cover_experiment_outputs(exps: Experiments, project: Path) -> None:
    exps.run(["train.lr=0.2"])
    used = exps.used_objects()
    lock = (project / "dvc.lock").read_text()
    assert used and all(md5 in lock for md5 in used)
