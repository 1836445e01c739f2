"""A plain PyTorch loop that calls ``jupyter_exp.make_checkpoint()`` itself, under the real CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from .conftest import Project, experiment_name, make_project

DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    deps: [train.py]
    params: [lr, epochs]
    outs:
      - model.pt:
          checkpoint: true
    metrics:
      - metrics.json:
          cache: false
"""
TRAIN = """\
import json
import os

import torch
import yaml

import jupyter_exp

p = yaml.safe_load(open("params.yaml"))
torch.manual_seed(0)
x = torch.randn(128, 4)
y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1
model = torch.nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=p["lr"])
step = 0
if os.path.exists("model.pt"):
    state = torch.load("model.pt")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    step = state["step"] + 1
for _ in range(p["epochs"]):
    optimizer.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x).squeeze(1), y)
    loss.backward()
    optimizer.step()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step}, "model.pt")
    with open("metrics.json", "w") as f:
        json.dump({"step": step, "loss": loss.item()}, f)
    jupyter_exp.make_checkpoint()
    step += 1
"""


@pytest.fixture
def torch_project(git_repo: Path) -> Project:
    return make_project(git_repo, DVC_YAML, {"train.py": TRAIN, "params.yaml": "lr: 0.05\nepochs: 3\n"})


def model_step(project: Project, sha: str) -> int:
    """The step stored in the cached ``model.pt`` that the commit's ``dvc.lock`` names."""
    entry = project.model_entry(sha, "model.pt")
    obj = project.cache_object(str(entry["md5"]))
    assert hashlib.md5(obj.read_bytes()).hexdigest() == entry["md5"]
    return int(torch.load(obj)["step"])


def test_pytorch_loop_checkpoints_and_resumes(torch_project: Project) -> None:
    project = torch_project
    name = experiment_name(project.run_cli("run"))
    ref = project.ref_of(name)
    chain = project.chain(project.exp_refs()[ref])
    assert [model_step(project, sha) for sha in chain] == [0, 1, 2]
    metrics = [json.loads(project.show_file(sha, "metrics.json")) for sha in chain]
    assert [m["step"] for m in metrics] == [0, 1, 2]
    assert metrics[2]["loss"] < metrics[0]["loss"]

    out = project.run_cli("run")
    assert f"Existing checkpoint experiment '{name}' will be resumed" in out
    chain = project.chain(project.exp_refs()[ref])
    assert [model_step(project, sha) for sha in chain] == [0, 1, 2, 3, 4, 5]
    assert json.loads((project.root / "metrics.json").read_text())["step"] == 5
