"""Checkpoint experiments: a real training script signalling checkpoints under ``exp run``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from jupyter_exp.experiments import Experiments
from jupyter_exp.pipeline import Pipeline
from jupyter_exp.scm.git import Git

from .conftest import fsck, git

DVC_YAML = """\
stages:
  train:
    cmd: {python} train.py
    deps: [train.py]
    params: [lr, epochs]
    outs:
      - model.txt:
          checkpoint: true
    metrics:
      - metrics.json:
          cache: false
"""
TRAIN = """\
import json, os, yaml
from jupyter_exp.live import make_checkpoint
p = yaml.safe_load(open("params.yaml"))
start = int(open("model.txt").read().split()[0]) + 1 if os.path.exists("model.txt") else 0
for step in range(start, start + p["epochs"]):
    open("model.txt", "w").write(f"{step} lr={p['lr']}")
    json.dump({"step": step, "acc": round(p["lr"] * (step + 1), 4)}, open("metrics.json", "w"))
    make_checkpoint()
"""


@pytest.fixture
def ckpt(git_repo: Path, logs: list[str]) -> Experiments:
    (git_repo / "dvc.yaml").write_text(DVC_YAML.format(python=sys.executable))
    (git_repo / "train.py").write_text(TRAIN)
    (git_repo / "params.yaml").write_text("lr: 0.1\nepochs: 3\n")
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-q", "-m", "training")
    git(git_repo, "branch", "-M", "main")
    return Experiments(Pipeline(git_repo), Git(git_repo), log=logs.append)


def chain(root: Path, ref: str, baseline: str) -> list[str]:
    return git(root, "rev-list", "--first-parent", ref, f"^{baseline}").splitlines()


def test_checkpoints_commit_a_chain_and_resume(ckpt: Experiments, git_repo: Path, logs: list[str]) -> None:
    baseline = git(git_repo, "rev-parse", "HEAD")
    first = ckpt.run()
    assert len(first.checkpoints) == 3
    assert chain(git_repo, first.ref, baseline) == first.checkpoints[::-1]
    steps = [json.loads(git(git_repo, "show", f"{sha}:metrics.json"))["step"] for sha in first.checkpoints]
    assert steps == [0, 1, 2]
    assert sum(1 for line in logs if line.startswith("Checkpoint experiment iteration")) == 3
    table = ckpt.show()
    assert [row.experiment for row in table.rows[2:]] == [
        f"│ ╓ {first.name}",
        f"│ ╟ {first.checkpoints[1][:7]}",
        f"├─╨ {first.checkpoints[0][:7]}",
    ]
    assert [row.metrics["metrics.json"]["step"] for row in table.rows[2:]] == [2, 1, 0]
    assert {row.checkpoint_tip for row in table.rows[2:]} == {first.rev}

    resumed = ckpt.run()
    assert f"Existing checkpoint experiment '{first.name}' will be resumed" in logs
    assert resumed.name == first.name and resumed.ref == first.ref
    assert len(chain(git_repo, first.ref, baseline)) == 6
    assert json.loads((git_repo / "metrics.json").read_text())["step"] == 5  # numbering continued
    assert git(git_repo, "rev-parse", "HEAD") == baseline
    fsck(git_repo)


def test_modified_checkpoint_experiment_and_reset(ckpt: Experiments, git_repo: Path, logs: list[str]) -> None:
    first = ckpt.run()
    modified = ckpt.run(["lr=0.5"])
    assert f"Modified checkpoint experiment based on '{first.name}' will be created" in logs
    assert modified.name != first.name
    assert git(git_repo, "rev-parse", f"{modified.checkpoints[0]}^") == first.rev
    rows = ckpt.show().rows[2:]
    assert [row.experiment for row in rows] == [
        f"│ ╓ {modified.name}",
        f"│ ╟ {modified.checkpoints[1][:7]}",
        f"│ ╟ {modified.checkpoints[0][:7]} ({first.rev[:7]})",
        f"│ ╓ {first.name}",
        f"│ ╟ {first.checkpoints[1][:7]}",
        f"├─╨ {first.checkpoints[0][:7]}",
    ]

    reset = ckpt.run(reset=True)
    assert json.loads(git(git_repo, "show", f"{reset.checkpoints[0]}:metrics.json"))["step"] == 0
    assert git(git_repo, "rev-parse", f"{reset.checkpoints[0]}^") == git(git_repo, "rev-parse", "HEAD")


def test_apply_a_checkpoint_restores_it(ckpt: Experiments, git_repo: Path) -> None:
    first = ckpt.run()
    ckpt.apply(first.checkpoints[0])
    assert (git_repo / "model.txt").read_text() == "0 lr=0.1"
    assert json.loads((git_repo / "metrics.json").read_text())["step"] == 0


ENDLESS = """\
import json, os, time
from jupyter_exp.live import make_checkpoint
step = int(open("model.txt").read().split()[0]) + 1 if os.path.exists("model.txt") else 0
while True:
    open("model.txt", "w").write(f"{step} lr=0.1")
    json.dump({"step": step}, open("metrics.json", "w"))
    make_checkpoint()
    step += 1
    time.sleep(0.05)
"""
DRIVER = """\
import json, sys
from jupyter_exp.experiments import Experiments
from jupyter_exp.pipeline import Pipeline
from jupyter_exp.scm.git import Git
result = Experiments(Pipeline("."), Git("."), log=print).run()
print(json.dumps({"name": result.name, "ref": result.ref, "n": len(result.checkpoints),
                  "interrupted": result.interrupted}))
"""


def test_ctrl_c_keeps_every_completed_checkpoint(ckpt: Experiments, git_repo: Path) -> None:
    import signal
    import subprocess
    import time

    (git_repo / "train.py").write_text(ENDLESS)
    git(git_repo, "commit", "-q", "-am", "endless training")
    baseline = git(git_repo, "rev-parse", "HEAD")
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER],
        cwd=git_repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        refs = git(git_repo, "for-each-ref", "--format=%(refname)", f"refs/exps/{baseline[:2]}")
        if refs and len(chain(git_repo, refs.splitlines()[0], baseline)) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["interrupted"] and summary["n"] >= 3
    commits = chain(git_repo, summary["ref"], baseline)
    assert len(commits) == summary["n"]
    steps = [json.loads(git(git_repo, "show", f"{sha}:metrics.json"))["step"] for sha in reversed(commits)]
    assert steps == list(range(summary["n"]))  # every completed checkpoint, in order, none torn
    assert f"Reproduced experiment(s): {summary['name']}" in out
    fsck(git_repo)
