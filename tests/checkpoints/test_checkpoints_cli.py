"""Checkpoint experiments end to end: a real numpy training loop under the real ``jupyter-exp`` CLI.

Covers the DVC 2.0 release's walk-through: one checkpoint commit per step, Ctrl-C keeping completed
checkpoints, resuming, a modified experiment after a params or code change, ``--reset``, ``apply`` of a
checkpoint, and the ``╓ ╟ ╨`` chains of ``exp show``.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from .conftest import (
    CLI,
    NUMPY_TRAIN,
    PARAMS,
    SIGNAL_FILE,
    Project,
    cli_env,
    commit_all,
    experiment_name,
    make_project,
    show_rows,
    tsv_steps,
)


def test_each_step_is_a_checkpoint_commit_on_the_experiment_ref(numpy_project: Project) -> None:
    project = numpy_project
    branch_before = project.git("branch", "--list")
    index_before = project.git("ls-files", "--stage")

    out = project.run_cli("run", "-S", "train.epochs=4")

    name = experiment_name(out)
    assert out.count("Checkpoint experiment iteration") == 4
    refs = project.exp_refs()
    assert list(refs) == [project.ref_of(name)]
    tip = refs[project.ref_of(name)]
    chain = project.chain(tip)
    assert len(chain) == 4
    assert project.git("rev-parse", f"{chain[0]}^") == project.baseline
    for parent, child in zip(chain, chain[1:], strict=False):
        assert project.git("rev-list", "--parents", "-n1", child).split() == [child, parent]
    assert [project.assert_consistent(sha) for sha in chain] == [0, 1, 2, 3]
    assert len({project.model_entry(sha)["md5"] for sha in chain}) == 4

    # HEAD, branches and the index are untouched; nothing else shows up as a branch.
    assert project.git("rev-parse", "HEAD") == project.baseline
    assert project.git("branch", "--list") == branch_before
    assert project.git("ls-files", "--stage") == index_before
    subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=project.root, check=True, capture_output=True)
    assert not (project.root / SIGNAL_FILE).exists()

    # `exp show` as the release draws a chain: tip named, older ones by sha, step and metrics on each.
    header, *rows = show_rows(project.run_cli("show", "--no-timestamp"))
    assert header[:4] == ["Experiment", "step", "loss", "w0"]
    assert [row[0] for row in rows] == [
        "workspace",
        "master",
        f"│ ╓ {name}",
        f"│ ╟ {chain[2][:7]}",
        f"│ ╟ {chain[1][:7]}",
        f"├─╨ {chain[0][:7]}",
    ]
    assert [row[1] for row in rows] == ["3", "-", "3", "2", "1", "0"]
    losses = [float(row[2]) for row in rows[2:]]
    assert losses == sorted(losses)  # the loss falls step after step, newest first
    assert float(rows[0][2]) == losses[0]


@pytest.mark.parametrize("report", [False, True], ids=["no-report", "report"])
def test_sigint_keeps_completed_checkpoints_and_a_rerun_resumes(numpy_project: Project, report: bool) -> None:
    project = numpy_project
    if report:  # the live report is redrawn as finished when Ctrl-C ends training: still a resume
        dvc_yaml = project.root / "dvc.yaml"
        dvc_yaml.write_text(dvc_yaml.read_text().replace("html: false", "html: true"))
        project.baseline = commit_all(project.root, "live report on")
    proc = subprocess.Popen(
        [CLI, "run"], cwd=project.root, env=cli_env({"EPOCHS": "1000", "DELAY": "0.1"}),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            tips = list(project.exp_refs().values())
            if tips and len(project.chain(tips[0])) >= 3:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("no three checkpoints within 60 s")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, out
    assert not (project.root / SIGNAL_FILE).exists()

    ((ref, tip),) = project.exp_refs().items()
    chain = project.chain(tip)
    made = out.count("Checkpoint experiment iteration")
    assert len(chain) == made >= 3, out
    assert [project.assert_consistent(sha) for sha in chain] == list(range(made))
    name = ref.rsplit("/", 1)[1]

    model_step_before = int(np.load(project.root / "model.npy")[0])
    out = project.run_cli("run", env={"EPOCHS": "2"})
    assert f"Existing checkpoint experiment '{name}' will be resumed" in out
    assert "resuming at step" in out and "fresh start" not in out  # model.npy was kept for the command
    resumed_at = int(out.split("resuming at step ")[1].split()[0])
    assert resumed_at in (made, made + 1)  # made + 1: a step finished on disk before Ctrl-C reached it
    assert resumed_at == model_step_before + 1

    new_tip = project.exp_refs()[ref]
    new_chain = project.chain(new_tip)
    assert new_chain[:made] == chain  # the same experiment, continued
    steps = [project.assert_consistent(sha) for sha in new_chain]
    assert steps == sorted(steps) and steps[-1] == resumed_at + 1
    final = [resumed_at + 1] if report else []  # the finished report, committed after the last checkpoint
    assert steps[made:] == [resumed_at, resumed_at + 1, *final]
    workspace_steps = tsv_steps((project.root / "logs" / "loss.tsv").read_text())
    assert workspace_steps == list(range(resumed_at + 2))
    assert json.loads((project.root / "logs.json").read_text())["step"] == resumed_at + 1


def test_changed_params_or_code_start_a_modified_chain(numpy_project: Project) -> None:
    project = numpy_project
    first = experiment_name(project.run_cli("run"))
    first_tip = project.exp_refs()[project.ref_of(first)]

    out = project.run_cli("run", "-S", "train.lr=0.05", "-S", "train.epochs=2")
    assert f"Modified checkpoint experiment based on '{first}' will be created" in out
    second = experiment_name(out)
    assert second != first
    second_chain = project.chain(project.exp_refs()[project.ref_of(second)], stop=first_tip)
    assert project.git("rev-parse", f"{second_chain[0]}^") == first_tip
    assert [project.assert_consistent(sha) for sha in second_chain] == [3, 4]

    train = project.root / "train.py"
    train.write_text(train.read_text().replace("import time\n", "import time  # tuned\n"))
    out = project.run_cli("run")
    assert f"Modified checkpoint experiment based on '{second}' will be created" in out
    third = experiment_name(out)
    second_tip = project.exp_refs()[project.ref_of(second)]
    third_chain = project.chain(project.exp_refs()[project.ref_of(third)], stop=second_tip)
    assert [project.assert_consistent(sha) for sha in third_chain] == [5, 6]

    rows = show_rows(project.run_cli("show", "--no-timestamp"))
    header = rows[0]
    assert header[:3] == ["Experiment", "step", "loss"]
    first_chain = project.chain(first_tip)
    assert [row[0] for row in rows[1:]] == [
        "workspace",
        "master",
        f"│ ╓ {third}",
        f"│ ╟ {third_chain[0][:7]} ({second_tip[:7]})",
        f"│ ╓ {second}",
        f"│ ╟ {second_chain[0][:7]} ({first_tip[:7]})",
        f"│ ╓ {first}",
        f"│ ╟ {first_chain[1][:7]}",
        f"├─╨ {first_chain[0][:7]}",
    ]


def test_reset_removes_checkpoint_outputs_and_starts_a_new_chain(numpy_project: Project) -> None:
    project = numpy_project
    first = experiment_name(project.run_cli("run"))
    first_tip = project.exp_refs()[project.ref_of(first)]

    out = project.run_cli("run", "--reset")
    assert "fresh start" in out and "resuming" not in out
    reset = experiment_name(out)
    reset_chain = project.chain(project.exp_refs()[project.ref_of(reset)])
    assert project.git("rev-parse", f"{reset_chain[0]}^") == project.baseline  # not on top of the old chain
    assert [project.assert_consistent(sha) for sha in reset_chain] == [0, 1, 2]
    assert first_tip not in reset_chain
    assert project.exp_refs()[project.ref_of(first)] == first_tip  # the old chain is kept
    assert tsv_steps((project.root / "logs" / "loss.tsv").read_text()) == [0, 1, 2]


def test_apply_restores_a_checkpoint(numpy_project: Project) -> None:
    project = numpy_project
    name = experiment_name(project.run_cli("run"))
    chain = project.chain(project.exp_refs()[project.ref_of(name)])

    project.run_cli("apply", chain[1][:7])

    model = (project.root / "model.npy").read_bytes()
    assert int(np.load(project.root / "model.npy")[0]) == 1
    assert hashlib.md5(model).hexdigest() == project.model_entry(chain[1])["md5"]
    assert json.loads((project.root / "logs.json").read_text())["step"] == 1
    assert (project.root / "dvc.lock").read_text().rstrip("\n") == project.show_file(chain[1], "dvc.lock")
    assert tsv_steps((project.root / "logs" / "loss.tsv").read_text()) == [0, 1]
    # Training resumes from the applied checkpoint: a modified chain branching off it.
    out = project.run_cli("run", "-S", "train.epochs=1")
    assert "resuming at step 2" in out



SIGNAL_DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    outs:
      - model.bin:
          checkpoint: true
"""
# The release's signal-file protocol used from any language, by a script that exits right after asking
# for its last checkpoint instead of waiting for the runner to take it.
SIGNAL_AND_EXIT = """\
import os

open("model.bin", "w").write(f"final weights {os.getpid()}")
os.makedirs(os.path.join(os.environ["DVC_ROOT"], ".dvc", "tmp"), exist_ok=True)
open(os.path.join(os.environ["DVC_ROOT"], ".dvc", "tmp", "DVC_CHECKPOINT"), "w").close()
"""


def test_a_signal_left_by_an_ending_command_is_served_not_left_stale(git_repo: Path) -> None:
    project = make_project(git_repo, SIGNAL_DVC_YAML, {"train.py": SIGNAL_AND_EXIT})
    for attempt in range(5):  # the command ends within the runner's polling interval: give the race chances
        out = project.run_cli("run", "--reset", "-n", f"signal-{attempt}")
        assert not (project.root / SIGNAL_FILE).exists(), out
        (tip,) = project.chain(project.exp_refs()[project.ref_of(f"signal-{attempt}")])
        entry = project.model_entry(tip, "model.bin")
        assert project.cache_object(str(entry["md5"])).read_text() == (project.root / "model.bin").read_text()


def test_stage_add_checkpoint_declares_the_release_stage(git_repo: Path) -> None:
    project = make_project(git_repo, "stages: {}\n", {"train.py": NUMPY_TRAIN, "params.yaml": PARAMS})
    project.run_cli(
        "stage", "add", "-n", "train", "-d", "train.py", "-p", "train.lr,train.epochs",
        "--checkpoint", "model.npy", "--live", "logs", "python train.py",
    )
    stage = yaml.safe_load((project.root / "dvc.yaml").read_text())["stages"]["train"]
    assert stage["outs"] == [{"model.npy": {"checkpoint": True}}]
    assert "logs" in stage["live"]

    out = project.run_cli("run", "-S", "train.epochs=2")
    chain = project.chain(project.exp_refs()[project.ref_of(experiment_name(out))])
    steps = [int(np.load(project.cache_object(str(project.model_entry(sha)["md5"])))[0]) for sha in chain]
    # Two checkpoints, then (as in the release's table, where the tip repeats the last step) the final
    # state: the report is redrawn as finished when training ends.
    assert steps == [0, 1, 1]
    assert project.git("diff", "--name-only", chain[1], chain[2]) == "logs.html"


@pytest.mark.parametrize("link_type", ["hardlink", "symlink"])
def test_linked_cache_types_never_let_training_write_into_the_cache(numpy_project: Project, link_type: str) -> None:
    """With ``cache.type`` hardlink or symlink, the model file the training rewrites every step must stay
    a private copy: written through a link, it would overwrite (or, without root, fail on) the cached
    object of the previous checkpoint."""
    project = numpy_project
    (project.root / ".dvc" / "config").write_text(f"[cache]\n    type = {link_type}\n")
    project.baseline = commit_all(project.root, f"{link_type} cache")

    name = experiment_name(project.run_cli("run"))
    chain = project.chain(project.exp_refs()[project.ref_of(name)])
    assert [project.assert_consistent(sha) for sha in chain] == [0, 1, 2]

    project.run_cli("apply", chain[0][:7])  # checked out with the link type, then trained on again
    out = project.run_cli("run")
    assert "resuming at step 1" in out
    resumed = experiment_name(out)
    steps = {
        exp: [project.assert_consistent(sha) for sha in project.chain(project.exp_refs()[project.ref_of(exp)])]
        for exp in (name, resumed)
    }
    assert steps == {name: [0, 1, 2], resumed: [0, 1, 2, 3]}


def test_a_half_written_model_is_restored_from_the_last_checkpoint_before_resuming(numpy_project: Project) -> None:
    """A run killed while training writes its model leaves a truncated file; resuming from it would crash
    or train on garbage, so the resume starts from what the last checkpoint recorded."""
    project = numpy_project
    name = experiment_name(project.run_cli("run", "-S", "train.epochs=2"))
    (project.root / "model.npy").write_bytes(b"\x93NUMPY")  # as a kill inside np.save leaves it

    out = project.run_cli("run", "-S", "train.epochs=2")

    assert f"Existing checkpoint experiment '{name}' will be resumed" in out
    assert "Restored 'model.npy' as the last checkpoint recorded it" in out
    chain = project.chain(project.exp_refs()[project.ref_of(name)])
    assert [project.assert_consistent(sha) for sha in chain] == [0, 1, 2, 3]
