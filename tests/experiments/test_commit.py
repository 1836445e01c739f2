"""The one experiment/checkpoint commit: unique auto names, same result reused, compare-and-swap refs."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_exp.errors import ExperimentError, RefRaceError
from jupyter_exp.experiments import Experiments
from jupyter_exp.experiments.commit import claim_ref, commit_content, commit_experiment, lock_hash
from jupyter_exp.experiments.refs import ExpRef, exp_refs
from jupyter_exp.scm.git import Git

from .conftest import fsck
from .test_checkpoints import ckpt  # noqa: F401 - the checkpoint pipeline fixture


def lock_files(g: Git, base: dict, text: str) -> dict:
    return {**base, "dvc.lock": (0o100644, g.write_blob(text.encode()))}


def test_three_thousand_auto_names_on_one_baseline_never_collide(project: Path) -> None:
    g = Git(project)
    head = g.head()
    base = g.flatten(head)
    first_choice = 0
    names = []
    for i in range(3000):  # 5 hex digits: about four first choices are taken by then
        files = lock_files(g, base, f"schema: '2.0'\nstages:\n  train:\n    params: {{lr: {i}}}\n")
        done = commit_experiment(g, files, baseline=head, parent=head)
        assert not done.reused
        first_choice += done.name == f"exp-{lock_hash(files)[:5]}"
        names.append(done.name)
    assert len(set(names)) == 3000
    assert 2980 < first_choice < 3000  # some names were regenerated, the rest kept DVC's exp-<hash[:5]>
    refs = exp_refs(g)
    assert {info.name for info in refs if info.baseline == head} == set(names)
    again = commit_experiment(g, lock_files(g, base, f"schema: '2.0'\nstages:\n  train:\n    params: {{lr: {7}}}\n"),
                              baseline=head, parent=head)
    assert again.reused and again.name == names[7]
    fsck(project)


def test_a_taken_auto_name_is_regenerated_and_the_same_result_reuses_its_name(
    exps: Experiments, project: Path
) -> None:
    first = exps.run(["train.lr=0.3"])
    g = Git(project)
    other = g.commit_tree(g.write_tree(g.flatten(first.baseline)), [first.baseline], "someone else's")
    g.set_ref(first.ref, other, old=first.rev)  # the name now belongs to a different experiment

    second = exps.run(["train.lr=0.3"])
    assert second.name != first.name and second.name.startswith("exp-")
    assert g.get_ref(first.ref) == other  # untouched
    assert commit_content(g, second.rev) == commit_content(g, first.rev)
    third = exps.run(["train.lr=0.3"])
    assert third.reused and (third.name, third.rev) == (second.name, second.rev)
    with pytest.raises(ExperimentError, match=f"conflicts with existing experiment '{first.name}'"):
        exps.run(["train.lr=0.4"], name=first.name)  # only a name the user gave can conflict
    fsck(project)


def test_a_ref_written_by_another_process_meanwhile_is_seen_not_overwritten(project: Path) -> None:
    g, other = Git(project), Git(project)
    head = g.head()
    files = lock_files(g, g.flatten(head), "schema: '2.0'\n")
    theirs = other.commit_tree(other.write_tree(g.flatten(head)), [head], "theirs")
    ref = str(ExpRef(head, "exp-aaaaa"))

    def make_commit() -> str:  # the other process claims the name between our read and our write
        other.add_ref(ref, theirs)
        return g.commit_tree(g.write_tree(files), [head], "ours")

    done = claim_ref(g, head, (g.write_tree(files), (head,)), make_commit,
                     names=iter(["exp-aaaaa", "exp-bbbbb"]), given=False, force=False, reuse=True)
    assert done.name == "exp-bbbbb" and g.get_ref(ref) == theirs
    with pytest.raises(RefRaceError, match="created by another process"):
        g.add_ref(ref, done.sha)
    with pytest.raises(RefRaceError, match="moved by another process"):
        g.set_ref(ref, done.sha, old=done.sha)
    assert g.get_ref(ref) == theirs


def test_a_checkpoint_whose_ref_moved_is_reported_and_the_ref_kept(project: Path) -> None:
    g = Git(project)
    head = g.head()
    files = lock_files(g, g.flatten(head), "schema: '2.0'\n")
    first = commit_experiment(g, files, baseline=head, parent=head, checkpoint=True)
    moved = g.commit_tree(g.write_tree(files), [first.sha], "another run's checkpoint")
    g.set_ref(first.ref, moved, old=first.sha)
    with pytest.raises(ExperimentError, match="was not recorded: .*moved by another process"):
        commit_experiment(g, files, baseline=head, parent=first.sha, checkpoint=True, extends=(first.ref, first.sha))
    assert g.get_ref(first.ref) == moved


def test_untracked_files_do_not_make_a_checkpoint_experiment_modified(
    ckpt: Experiments,  # noqa: F811
    git_repo: Path,
    logs: list[str],
) -> None:
    first = ckpt.run()
    (git_repo / "scratch.log").write_text("notes of the notebook\n")  # read by no stage
    (git_repo / "params.yaml").write_text("lr: 0.1\nepochs: 3\nunused: 7\n")  # an undeclared param
    resumed = ckpt.run()
    assert f"Existing checkpoint experiment '{first.name}' will be resumed" in logs
    assert resumed.name == first.name
    (git_repo / "train.py").write_text((git_repo / "train.py").read_text() + "# a code change\n")  # a dep
    modified = ckpt.run()
    assert f"Modified checkpoint experiment based on '{first.name}' will be created" in logs
    assert modified.name != first.name
