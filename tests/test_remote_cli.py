"""``remote``, ``data push/fetch/pull`` and ``exp push/pull`` with data, between real Git clones."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import CliRunner, git, md5, ok

TRAIN = """\
import yaml
lr = yaml.safe_load(open("params.yaml"))["lr"]
open("model.bin", "w").write(f"weights for lr={lr}")
"""
DVC_YAML = f"""\
stages:
  train:
    cmd: {sys.executable} train.py
    deps: [train.py]
    params: [lr]
    outs: [model.bin]
"""


def objects(store: Path) -> set[str]:
    return {p.parent.name + p.name for p in (store / "files" / "md5").glob("*/*")}


@pytest.fixture
def origin(git_repo: Path, tmp_path: Path, run_cli: CliRunner) -> tuple[Path, Path]:
    """The repo with data (a folder and a pipeline output), a default data remote, pushed to a bare origin."""
    (git_repo / "data").mkdir()
    for i in range(3):
        (git_repo / "data" / f"part{i}.csv").write_text(f"x,y\n{i},{i * i}\n")
    (git_repo / "train.py").write_text(TRAIN)
    (git_repo / "params.yaml").write_text("lr: 0.1\n")
    (git_repo / "dvc.yaml").write_text(DVC_YAML)
    store = tmp_path / "store"
    ok(run_cli("add", "data"))
    ok(run_cli("repro"))
    ok(run_cli("remote", "add", "-d", "store", str(store)))
    bare = push_to_new_origin(git_repo, tmp_path, "data and pipeline")
    return bare, store


def push_to_new_origin(repo: Path, tmp_path: Path, message: str) -> Path:
    """Commit everything as ``main`` and push it to a new bare ``origin``; returns the bare repository."""
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", message)
    git(repo, "branch", "-M", "main")
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "main")
    return bare


def clone(bare: Path, where: Path) -> Path:
    git(where.parent, "clone", "-q", str(bare), str(where))
    return where


def test_remote_commands(run_cli: CliRunner, git_repo: Path, tmp_path: Path) -> None:
    assert "No remotes" in ok(run_cli("remote", "list"))
    assert "Added remote 'a' (default)" in ok(run_cli("remote", "add", "-d", "a", "memory://a"))
    ok(run_cli("remote", "add", "b", "../b-store"))
    listing = ok(run_cli("remote", "list")).splitlines()
    assert listing[0].split() == ["a", "memory://a", "(default)"]
    assert listing[1].split() == ["b", "../../b-store"]  # relative to .dvc/, as DVC stores it
    assert ok(run_cli("remote", "default")).strip() == "a"
    ok(run_cli("remote", "default", "b"))
    assert ok(run_cli("remote", "default")).strip() == "b"
    ok(run_cli("remote", "remove", "b"))
    assert ok(run_cli("remote", "default")).strip() == "No default remote."
    failed = run_cli("remote", "add", "a", "memory://other")
    assert failed.code == 1 and "remote 'a' already exists" in failed.err
    failed = run_cli("remote", "remove", "zzz")
    assert failed.code == 1 and "remote 'zzz' doesn't exist" in failed.err


def test_push_then_pull_in_a_clone(
    origin: tuple[Path, Path], run_cli: CliRunner, git_repo: Path, tmp_path: Path
) -> None:
    bare, store = origin
    assert ok(run_cli("data", "push")).strip() == "5 files pushed"  # 3 parts, their .dir, the model
    assert objects(store) == {p.parent.name + p.name for p in (git_repo / ".dvc/cache/files/md5").glob("*/*")}
    assert ok(run_cli("data", "push")).strip() == "Everything is up to date."

    other = clone(bare, tmp_path / "other")
    assert not (other / "model.bin").exists()
    out = ok(run_cli("data", "pull", cwd=other))
    assert "5 files fetched, 2 files checked out" in out
    assert (other / "model.bin").read_text() == "weights for lr=0.1"
    assert sorted(p.name for p in (other / "data").iterdir()) == ["part0.csv", "part1.csv", "part2.csv"]
    assert (other / "data" / "part2.csv").read_text() == "x,y\n2,4\n"
    assert ok(run_cli("status", cwd=other)).strip() == "Data and pipelines are up to date."
    assert ok(run_cli("data", "pull", cwd=other)).strip() == "Everything is up to date."


def test_targets_fetch_and_only_new_objects(
    origin: tuple[Path, Path], run_cli: CliRunner, git_repo: Path, tmp_path: Path
) -> None:
    bare, store = origin
    assert ok(run_cli("data", "push", "train")).strip() == "1 file pushed"
    assert ok(run_cli("data", "push", "data")).strip() == "4 files pushed"  # a path target: data.dvc's output
    (git_repo / "data" / "part3.csv").write_text("x,y\n3,9\n")
    ok(run_cli("add", "data"))
    before = objects(store)
    assert ok(run_cli("data", "push", "-j", "2")).strip() == "2 files pushed"  # the new file + the new .dir
    assert len(objects(store) - before) == 2

    other = clone(bare, tmp_path / "other")
    failed = run_cli("data", "fetch", "nothing-here", cwd=other)
    assert failed.code == 1 and "'nothing-here' is neither a stage nor an output" in failed.err
    assert ok(run_cli("data", "fetch", "train", cwd=other)).strip() == "1 file fetched"
    assert not (other / "model.bin").exists()  # fetch fills the cache only
    ok(run_cli("checkout", "train", cwd=other))
    assert (other / "model.bin").exists()


def test_all_branches_push_carries_other_branches_outputs(
    origin: tuple[Path, Path], run_cli: CliRunner, git_repo: Path, tmp_path: Path
) -> None:
    _, store = origin
    git(git_repo, "checkout", "-q", "-b", "big-lr")
    (git_repo / "params.yaml").write_text("lr: 0.9\n")
    ok(run_cli("repro"))
    git(git_repo, "commit", "-q", "-am", "bigger lr")
    big_model = (git_repo / "model.bin").read_text()
    git(git_repo, "checkout", "-q", "main")
    ok(run_cli("checkout"))
    assert ok(run_cli("data", "push")).strip() == "5 files pushed"
    assert ok(run_cli("data", "push", "--all-branches")).strip() == "1 file pushed"
    assert big_model == "weights for lr=0.9"


def test_errors_name_the_remote_and_files(
    origin: tuple[Path, Path], run_cli: CliRunner, git_repo: Path, tmp_path: Path
) -> None:
    bare, store = origin
    failed = run_cli("data", "push", "-r", "nope")
    assert failed.code == 1 and "remote 'nope' doesn't exist in '.dvc/config' (known: 'store')" in failed.err
    other = clone(bare, tmp_path / "other")
    failed = run_cli("data", "pull", cwd=other)
    assert failed.code == 1 and "remote 'store'" in failed.err and "is unreachable" in failed.err
    ok(run_cli("data", "push", "data"))
    failed = run_cli("data", "pull", cwd=other)
    assert failed.code == 1 and "1 object(s) are missing on remote 'store'" in failed.err
    assert "'model.bin'" in failed.err
    ok(run_cli("remote", "default", "--unset"))
    failed = run_cli("data", "push")
    assert failed.code == 1 and "no default remote set" in failed.err


def test_exp_push_carries_outputs_and_a_clone_applies_them(
    origin: tuple[Path, Path], run_cli: CliRunner, git_repo: Path, tmp_path: Path
) -> None:
    bare, store = origin
    ok(run_cli("run", "-S", "lr=0.5", "-n", "exp-x"))
    model = (git_repo / "model.bin").read_text()
    assert model == "weights for lr=0.5"
    ok(run_cli("push", "origin", "exp-x"))
    from jupyter_exp.data.hashing import Hasher

    model_md5 = Hasher(git_repo).hash("model.bin").md5
    assert model_md5 in objects(store)

    other = clone(bare, tmp_path / "other")
    ok(run_cli("pull", "origin", "exp-x", cwd=other))
    assert (other / ".dvc" / "cache" / "files" / "md5" / model_md5[:2] / model_md5[2:]).is_file()
    ok(run_cli("apply", "exp-x", cwd=other))
    assert (other / "model.bin").read_text() == model
    assert "lr: 0.5" in (other / "params.yaml").read_text()


def test_exp_push_without_a_default_remote_pushes_refs_only(
    origin: tuple[Path, Path], run_cli: CliRunner, git_repo: Path, tmp_path: Path
) -> None:
    bare, store = origin
    ok(run_cli("remote", "default", "--unset"))
    ok(run_cli("run", "-S", "lr=0.7", "-n", "exp-y"))
    ok(run_cli("push", "origin", "exp-y"))
    assert not store.exists()
    assert "exp-y" in git(bare, "for-each-ref", "refs/exps")


CHECKPOINT_TRAIN = """\
from jupyter_exp import make_checkpoint
for step in range(3):
    open("model.txt", "w").write(f"model at step {step}")
    make_checkpoint()
"""


def test_exp_push_and_pull_carry_every_checkpoint(git_repo: Path, tmp_path: Path, run_cli: CliRunner) -> None:
    (git_repo / "train.py").write_text(CHECKPOINT_TRAIN)
    (git_repo / "dvc.yaml").write_text(
        f"stages:\n  train:\n    cmd: {sys.executable} train.py\n    deps: [train.py]\n"
        "    outs:\n      - model.txt:\n          checkpoint: true\n"
    )
    store = tmp_path / "store"
    ok(run_cli("remote", "add", "-d", "store", str(store)))
    bare = push_to_new_origin(git_repo, tmp_path, "checkpointed training")
    ok(run_cli("run", "-n", "ckpt"))
    ok(run_cli("push", "origin", "ckpt"))
    steps = {md5(f"model at step {i}".encode()) for i in range(3)}
    assert steps <= objects(store)

    other = clone(bare, tmp_path / "other")
    ok(run_cli("pull", "origin", "ckpt", cwd=other))
    assert steps <= {p.parent.name + p.name for p in (other / ".dvc/cache/files/md5").glob("*/*")}
    ok(run_cli("apply", "ckpt", cwd=other))
    assert (other / "model.txt").read_text() == "model at step 2"
