"""The repository lock (``.dvc/tmp/rwlock``): writers take turns, readers never wait, dead holders are
replaced, and the real DVC sees our lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import DVC

from jupyter_exp.errors import RepoLockedError
from jupyter_exp.experiments.refs import exp_refs
from jupyter_exp.pipeline import Pipeline
from jupyter_exp.repo import Repo
from jupyter_exp.scm.git import Git

from .conftest import fsck, git

HOLDER = """
import sys, time
from jupyter_exp.pipeline.rwlock import write_lock
with write_lock(sys.argv[1], "exp run", log=print):
    print("holding", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def holder(project: Path):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(project)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_writer_waits_naming_the_holder_then_fails(
    project: Path, holder: subprocess.Popen, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_EXP_LOCK_TIMEOUT", "0.5")
    said: list[str] = []
    pipeline = Pipeline(project, log=said.append)
    start = time.monotonic()
    with pytest.raises(RepoLockedError, match=rf"locked by jupyter-exp pid {holder.pid} \(exp run\).*0.5 s"):
        pipeline.reproduce()
    assert time.monotonic() - start >= 0.5
    assert said[0].startswith(f"Waiting for jupyter-exp pid {holder.pid} (exp run) to finish")
    assert not (project / "data.txt").exists()  # nothing ran
    assert pipeline.status()  # readers do not wait: the pipeline never ran, so everything changed


def test_the_cli_waits_for_the_holder_to_finish(project: Path, holder: subprocess.Popen) -> None:
    cli = subprocess.Popen([sys.executable, "-m", "jupyter_exp.cli", "repro"], cwd=project,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert cli.stdout is not None
    first = cli.stdout.readline()  # however long the CLI takes to start, it waits before running anything
    assert first.startswith(f"Waiting for jupyter-exp pid {holder.pid} (exp run)"), first
    assert cli.poll() is None and not (project / "data.txt").exists()
    holder.kill()
    holder.wait()
    out = cli.communicate(timeout=60)[0]
    assert cli.returncode == 0, first + out
    assert (project / "data.txt").exists()


def test_a_lock_left_by_a_killed_process_is_taken_over(project: Path, holder: subprocess.Popen) -> None:
    holder.kill()
    holder.wait()
    lock = json.loads((project / ".dvc/tmp/rwlock").read_text())
    assert lock["write"][str(project)]["pid"] == holder.pid  # left behind by SIGKILL
    said: list[str] = []
    Pipeline(project, log=said.append).reproduce()
    assert any(f"pid {holder.pid} (exp run) was killed" in line for line in said)
    assert json.loads((project / ".dvc/tmp/rwlock").read_text()) == {"write": {}, "read": {}}


def test_two_exp_runs_started_together_end_as_two_correct_experiments(project: Path) -> None:
    runs = [
        subprocess.Popen([sys.executable, "-m", "jupyter_exp.cli", "exp", "run", "-S", setting], cwd=project,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for setting in ("train.lr=0.2", "train.epochs=7")
    ]
    outs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outs
    g = Git(project)
    commits = list(exp_refs(g).values())
    assert len(commits) == 2
    settings = set()
    for sha in commits:
        params = yaml.safe_load(git(project, "show", f"{sha}:params.yaml"))["train"]
        metrics = json.loads(git(project, "show", f"{sha}:metrics.json"))
        assert metrics["acc"] == round(params["lr"] * params["epochs"], 4)  # results match their params
        settings.add((params["lr"], params["epochs"]))
    assert {lr for lr, _ in settings} >= {0.2} and {epochs for _, epochs in settings} >= {7}
    fsck(project)


@pytest.mark.dvc
def test_real_dvc_sees_our_lock(project: Path, holder: subprocess.Popen) -> None:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    done = subprocess.run([str(DVC), "repro"], cwd=project, env=env, capture_output=True, text=True)
    assert done.returncode != 0
    assert f"(PID {holder.pid}): jupyter-exp exp run" in done.stdout + done.stderr



def start_holder(project: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(project)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


@pytest.mark.parametrize("command", [["exp", "remove", "first"], ["exp", "branch", "first", "from-exp"],
                                     ["exp", "gc", "--workspace", "-f"]])
def test_experiment_ref_writers_wait_for_the_holder_and_change_nothing(project: Path, command: list[str]) -> None:
    Repo(project).experiments.run(["train.lr=0.3"], name="first")
    refs_before = git(project, "for-each-ref")
    holder = start_holder(project)
    try:
        done = subprocess.run([sys.executable, "-m", "jupyter_exp.cli", *command], cwd=project,
                              env={**os.environ, "JUPYTER_EXP_LOCK_TIMEOUT": "0.3"}, capture_output=True, text=True)
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode != 0
    assert f"locked by jupyter-exp pid {holder.pid} (exp run)" in done.stderr
    assert git(project, "for-each-ref") == refs_before


def test_a_killed_holder_not_yet_reaped_is_taken_over(project: Path) -> None:
    holder = start_holder(project)
    holder.kill()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{holder.pid}/stat").read_text().split(") ")[1][0] != "Z":  # killed, not waited for
        assert time.monotonic() < deadline
        time.sleep(0.01)
    try:
        said: list[str] = []
        Pipeline(project, log=said.append).reproduce()
        assert any(f"pid {holder.pid} (exp run) was killed" in line for line in said)
    finally:
        holder.wait()
