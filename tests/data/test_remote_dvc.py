"""Data remotes against the real DVC 3: ``dvc pull`` reads what we push, we pull what ``dvc push`` wrote.

Both sides use a plain local-folder remote (``url = /abs/path`` in ``.dvc/config``), which DVC supports
without extras. Repositories move between the tools as Git clones, without any cache.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import DVC, CliRunner

pytestmark = pytest.mark.dvc


def dvc(cwd: Path, *args: str) -> str:
    assert DVC is not None
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    done = subprocess.run([str(DVC), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"dvc {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def ok(result: object) -> str:
    assert result.code == 0, f"exit {result.code}\n{result.out}\n{result.err}"  # type: ignore[attr-defined]
    return result.out  # type: ignore[attr-defined]


def files_under(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def make_data(root: Path) -> None:
    for rel, data in {
        "data/a.csv": b"x,y\r\n1,2\r\n",
        "data/sub dir/b.txt": "ünïcode ✓\n".encode(),
        "data/sub dir/empty": b"",
        "data/big.bin": bytes(range(256)) * 4000,
        "model.pkl": b"\x80\x04weights",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


def test_dvc_pulls_what_we_push(git_repo: Path, tmp_path: Path, run_cli: CliRunner) -> None:
    make_data(git_repo)
    (git_repo / "dvc.yaml").write_text(
        "stages:\n  copy:\n    cmd: cp model.pkl model.copy\n    deps: [model.pkl]\n    outs: [model.copy]\n"
    )
    ok(run_cli("add", "data", "model.pkl"))
    ok(run_cli("repro"))
    store = tmp_path / "store"
    ok(run_cli("remote", "add", "-d", "store", str(store)))
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-q", "-m", "data")
    assert (
        ok(run_cli("data", "push")).strip() == "6 files pushed"
    )  # 4 files, their .dir, one model (the copy has its md5)

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(git_repo), str(clone))
    before = dvc(clone, "status", "--cloud")  # "deleted": on the remote, not in the (empty) cache
    assert "deleted:" in before and "missing:" not in before and "new:" not in before
    dvc(clone, "pull")
    assert "in sync" in dvc(clone, "status", "--cloud")
    assert files_under(clone / "data") == files_under(git_repo / "data")
    assert (clone / "model.pkl").read_bytes() == (clone / "model.copy").read_bytes() == b"\x80\x04weights"
    assert "up to date" in dvc(clone, "status")


def test_we_pull_what_dvc_pushes(git_repo: Path, tmp_path: Path, run_cli: CliRunner) -> None:
    make_data(git_repo)
    store = tmp_path / "dvc-store"
    dvc(git_repo, "add", "data", "model.pkl")
    dvc(git_repo, "remote", "add", "-d", "store", str(store))
    dvc(git_repo, "push")
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-q", "-m", "data by dvc")

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(git_repo), str(clone))
    assert "6 files fetched, 2 files checked out" in ok(run_cli("data", "pull", cwd=clone))
    assert files_under(clone / "data") == files_under(git_repo / "data")
    assert (clone / "model.pkl").read_bytes() == b"\x80\x04weights"
    assert ok(run_cli("data", "push", cwd=clone)).strip() == "Everything is up to date."
    assert "in sync" in dvc(clone, "status", "--cloud")
