"""``stage add`` writes the stage DVC would, keeping the rest of ``dvc.yaml`` (comments, templates) intact."""

from __future__ import annotations

from pathlib import Path

import yaml

from jupyter_exp.repo import Repo

EXISTING = """\
# Pipeline of the churn project
vars:
  - params.yaml
stages:
  prep:  # cleans the raw export
    cmd: python prep.py --rows ${rows}
    outs: [clean.csv]
"""


def test_stage_add_with_every_option_keeps_comments(git_repo: Path, run_cli) -> None:
    (git_repo / "params.yaml").write_text("rows: 10\nlr: 0.1\n")
    (git_repo / "dvc.yaml").write_text(EXISTING)
    result = run_cli(
        "stage", "add", "-n", "train",
        "-d", "clean.csv", "-d", "train.py",
        "-o", "model.pkl", "-O", "scratch",
        "-p", "lr,rows", "-p", "train.yaml:epochs",
        "-m", "scores.json", "-M", "summary.json",
        "--plots", "roc.csv", "--live", "logs", "--checkpoint", "ckpt.pt",
        "python", "train.py", "--epochs", "3",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.out.strip() == "Added stage 'train' in 'dvc.yaml'"
    text = (git_repo / "dvc.yaml").read_text()
    assert text.startswith(EXISTING)  # comments, flow style and ${...} untouched
    train = yaml.safe_load(text)["stages"]["train"]
    assert train == {
        "cmd": "python train.py --epochs 3",
        "deps": ["clean.csv", "train.py"],
        "params": ["lr", "rows", {"train.yaml": ["epochs"]}],
        "outs": ["model.pkl", {"scratch": {"cache": False}}, {"ckpt.pt": {"checkpoint": True}}],
        "metrics": ["scores.json", {"summary.json": {"cache": False}}],
        "plots": ["roc.csv"],
        "live": {"logs": {"summary": True, "html": True}},
    }
    stage = Repo(git_repo).pipeline.stages()["train"]
    assert [o.path for o in stage.checkpoint_outs] == ["ckpt.pt"]
    assert {o.path: o.cache for o in stage.outs}["logs.json"] is False
    assert Repo(git_repo).pipeline.graph().upstream["train"] == {"prep"}


def test_existing_stage_needs_force(git_repo: Path, run_cli) -> None:
    (git_repo / "params.yaml").write_text("rows: 10\n")
    (git_repo / "dvc.yaml").write_text(EXISTING)
    result = run_cli("stage", "add", "-n", "prep", "-o", "other.csv", "echo", "x")
    assert result.code == 1
    assert "stage 'prep' already exists in 'dvc.yaml': use --force to overwrite it" in result.err
    assert (git_repo / "dvc.yaml").read_text() == EXISTING
    assert run_cli("stage", "add", "--force", "-n", "prep", "-o", "other.csv", "echo x > other.csv").code == 0
    text = (git_repo / "dvc.yaml").read_text()
    assert text.startswith("# Pipeline of the churn project\n") and "${rows}" not in text
    assert yaml.safe_load(text)["stages"]["prep"] == {"cmd": "echo x > other.csv", "outs": ["other.csv"]}
    assert Repo(git_repo).pipeline.reproduce() == ["prep"]


def test_stage_add_creates_dvc_yaml_in_the_current_folder(git_repo: Path, run_cli) -> None:
    (git_repo / "sub").mkdir()
    result = run_cli("stage", "add", "-n", "s", "-o", "o.txt", "echo hi > o.txt", cwd=git_repo / "sub")
    assert result.code == 0 and "'sub/dvc.yaml'" in result.out
    assert yaml.safe_load((git_repo / "sub" / "dvc.yaml").read_text()) == {
        "stages": {"s": {"cmd": "echo hi > o.txt", "outs": ["o.txt"]}}
    }
    assert Repo(git_repo).pipeline.reproduce() == ["sub/dvc.yaml:s"]
    assert (git_repo / "sub" / "o.txt").read_text() == "hi\n"


def test_stage_add_errors(git_repo: Path, run_cli) -> None:
    no_cmd = run_cli("stage", "add", "-n", "s", "-o", "x")
    assert no_cmd.code == 2 and "a command is required" in no_cmd.err
    bad_name = run_cli("stage", "add", "-n", "bad name", "echo")
    assert bad_name.code == 1 and "'bad name' is not a valid stage name" in bad_name.err
    no_name = run_cli("stage", "add", "echo")
    assert no_name.code == 2 and "-n/--name" in no_name.err
    assert not (git_repo / "dvc.yaml").exists()
