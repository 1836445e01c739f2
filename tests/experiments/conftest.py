"""A committed two-stage params pipeline in a real Git + ``.dvc/`` repository, and helpers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_exp.experiments import Experiments
from jupyter_exp.experiments.queued import QUEUE_NAMESPACE
from jupyter_exp.pipeline import Pipeline
from jupyter_exp.scm.git import Git

DVC_YAML = """\
stages:
  prepare:
    cmd: {python} prepare.py
    deps: [prepare.py]
    params: [prepare.size]
    outs: [data.txt]
  train:
    cmd: {python} train.py
    deps: [train.py, data.txt]
    params: [train.lr, train.epochs]
    outs: [model.txt]
    metrics:
      - metrics.json:
          cache: false
"""
PREPARE = """\
import yaml
p = yaml.safe_load(open("params.yaml"))["prepare"]
open("data.txt", "w").write("x" * p["size"])
"""
TRAIN = """\
import json, yaml
p = yaml.safe_load(open("params.yaml"))["train"]
data = open("data.txt").read()
open("model.txt", "w").write(f"model lr={p['lr']} epochs={p['epochs']} n={len(data)}")
json.dump({"acc": round(p["lr"] * p["epochs"], 4), "loss": {"train": round(1 - p["lr"], 4)}},
          open("metrics.json", "w"))
"""
PARAMS = "prepare:\n  size: 10\ntrain:\n  lr: 0.1  # learning rate\n  epochs: 5\n"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def fsck(root: Path) -> None:
    subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=root, check=True, capture_output=True)


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "dvc.yaml").write_text(DVC_YAML.format(python=sys.executable))
    (git_repo / "prepare.py").write_text(PREPARE)
    (git_repo / "train.py").write_text(TRAIN)
    (git_repo / "params.yaml").write_text(PARAMS)
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    git(git_repo, "branch", "-M", "main")
    return git_repo


def queue_refs(project: Path) -> list[str]:
    """The queue's refs (queued and failed entries), sorted, as ``git for-each-ref`` lists them."""
    return git(project, "for-each-ref", "--format=%(refname)", QUEUE_NAMESPACE).splitlines()


@pytest.fixture
def baseline(exps: Experiments, project: Path) -> str:
    """The pipeline reproduced and committed: the queued runs start from its cached outputs."""
    exps.pipeline.reproduce()
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "baseline results")
    return git(project, "rev-parse", "HEAD")


@pytest.fixture
def logs() -> list[str]:
    return []


@pytest.fixture
def exps(project: Path, logs: list[str]) -> Experiments:
    return Experiments(Pipeline(project), Git(project), log=logs.append)
