"""Revisions read with their cached outputs: metrics and plots diff across experiments without a checkout."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import CliRunner
from dulwich import porcelain

from jupyter_exp.experiments import refs
from jupyter_exp.repo import Repo

TRAIN = """\
import json, os, sys, yaml
lr = yaml.safe_load(open("params.yaml"))["lr"]
os.makedirs("logs", exist_ok=True)
with open("logs/loss.tsv", "w") as f:
    f.write("timestamp\\tstep\\tloss\\n")
    for step in range(3):
        f.write(f"0\\t{step}\\t{1 / (1 + lr * step)}\\n")
json.dump({"loss": 1 / (1 + lr * 2)}, open("metrics.json", "w"))
"""

DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    deps: [train.py]
    params: [lr]
    metrics: [metrics.json]
    plots: [logs]
"""


def _commit_all(root: Path, message: str) -> None:
    porcelain.add(
        str(root),
        paths=[
            str(p)
            for p in root.rglob("*")
            if p.is_file() and ".git" not in p.parts and ".dvc" not in p.parts[len(root.parts) :][:1]
        ],
    )
    porcelain.commit(str(root), message=message.encode())


def _setup(root: Path, run_cli: CliRunner) -> None:
    (root / "train.py").write_text(TRAIN)
    (root / "params.yaml").write_text("lr: 0.1\n")
    (root / "dvc.yaml").write_text(DVC_YAML)
    assert run_cli("repro").code == 0
    _commit_all(root, "baseline")
    for lr, name in (("0.5", "half"), ("2", "double")):
        result = run_cli("run", "-S", f"lr={lr}", "-n", name)
        assert result.code == 0, result.err
        assert f"Reproduced experiment(s): {name}" in result.out, result.out


def test_cached_metrics_of_experiments_diff_without_checkout(git_repo: Path, run_cli: CliRunner) -> None:
    _setup(git_repo, run_cli)
    # metrics.json is cached (git-ignored): only the cache, through each commit's dvc.lock, has it
    assert "/metrics.json" in (git_repo / ".gitignore").read_text()
    result = run_cli("metrics", "diff", "half", "double", "--json")
    assert result.code == 0, result.err
    diff = json.loads(result.out)["metrics.json"]["loss"]
    assert diff["old"] == 1 / (1 + 0.5 * 2)
    assert diff["new"] == 1 / (1 + 2 * 2)


def test_plots_diff_overlays_cached_live_folders_of_each_revision(git_repo: Path, run_cli: CliRunner) -> None:
    _setup(git_repo, run_cli)
    result = run_cli("plots", "diff", "HEAD", "half", "double", "--json")
    assert result.code == 0, result.err
    plot = json.loads(result.out)["data"]["logs/loss.tsv"][0]
    assert sorted(plot["revisions"]) == ["HEAD", "double", "half"]
    values = plot["content"]["data"]["values"]
    last = {v["rev"]: v["loss"] for v in values if v["step"] == 2}
    assert last == {"HEAD": 1 / 1.2, "half": 1 / 2, "double": 1 / 5}


def test_tree_of_a_revision_lists_and_reads_a_cached_folder(git_repo: Path, run_cli: CliRunner) -> None:
    _setup(git_repo, run_cli)
    repo = Repo(git_repo)
    tree = repo.tree("double")
    (_, sha) = refs.find(repo.scm, "double")
    assert not repo.scm.tree(sha).exists("logs")  # Git alone does not hold it
    assert tree.isdir("logs") and tree.listdir("logs") == ["loss.tsv"]
    assert tree.read_bytes("logs/loss.tsv").decode().splitlines()[-1].endswith("\t0.2")
    assert "logs" in tree.listdir(".")
