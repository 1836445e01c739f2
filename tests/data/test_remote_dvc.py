"""Data remotes against the real DVC 3: ``dvc pull`` reads what we push, we pull what ``dvc push`` wrote.

Both sides use a plain local-folder remote (``url = /abs/path`` in ``.dvc/config``), which DVC supports
without extras, and an S3 remote on moto's server (DVC with dvc-s3). Repositories move between the tools as
Git clones, without any cache.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CliRunner, files_under, git, ok, run_dvc, write_bytes
from moto_s3 import MotoS3

pytestmark = pytest.mark.dvc


def make_data(root: Path) -> None:
    for rel, data in {
        "data/a.csv": b"x,y\r\n1,2\r\n",
        "data/sub dir/b.txt": "ünïcode ✓\n".encode(),
        "data/sub dir/empty": b"",
        "data/big.bin": bytes(range(256)) * 4000,
        "model.pkl": b"\x80\x04weights",
    }.items():
        write_bytes(root / rel, data)


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
    before = run_dvc(clone, "status", "--cloud")  # "deleted": on the remote, not in the (empty) cache
    assert "deleted:" in before and "missing:" not in before and "new:" not in before
    run_dvc(clone, "pull")
    assert "in sync" in run_dvc(clone, "status", "--cloud")
    assert files_under(clone / "data") == files_under(git_repo / "data")
    assert (clone / "model.pkl").read_bytes() == (clone / "model.copy").read_bytes() == b"\x80\x04weights"
    assert "up to date" in run_dvc(clone, "status")


def test_we_pull_what_dvc_pushes(git_repo: Path, tmp_path: Path, run_cli: CliRunner) -> None:
    make_data(git_repo)
    store = tmp_path / "dvc-store"
    run_dvc(git_repo, "add", "data", "model.pkl")
    run_dvc(git_repo, "remote", "add", "-d", "store", str(store))
    run_dvc(git_repo, "push")
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-q", "-m", "data by dvc")

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(git_repo), str(clone))
    assert "6 files fetched, 2 files checked out" in ok(run_cli("data", "pull", cwd=clone))
    assert files_under(clone / "data") == files_under(git_repo / "data")
    assert (clone / "model.pkl").read_bytes() == b"\x80\x04weights"
    assert ok(run_cli("data", "push", cwd=clone)).strip() == "Everything is up to date."
    assert "in sync" in run_dvc(clone, "status", "--cloud")


def test_dvc_pulls_from_s3_what_we_push_and_we_pull_what_dvc_pushes(
    git_repo: Path, tmp_path: Path, run_cli: CliRunner, moto_s3: MotoS3
) -> None:
    """The same ``.dvc/config`` (``url = s3://...``, ``endpointurl``) serves both tools (dvc-s3 for DVC)."""
    make_data(git_repo)
    ok(run_cli("add", "data", "model.pkl"))
    bucket = moto_s3.new_bucket()
    ok(run_cli("remote", "add", "-d", "s3", f"s3://{bucket}/store"))
    ok(run_cli("remote", "modify", "s3", "endpointurl", moto_s3.endpoint))
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-q", "-m", "data")
    assert ok(run_cli("data", "push")).strip() == "6 files pushed"

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(git_repo), str(clone))
    run_dvc(clone, "pull")
    assert "in sync" in run_dvc(clone, "status", "--cloud")
    assert files_under(clone / "data") == files_under(git_repo / "data")

    write_bytes(clone / "data" / "new.txt", b"written by dvc\n")  # DVC pushes a new version ...
    run_dvc(clone, "add", "data")
    run_dvc(clone, "push")
    git(clone, "commit", "-q", "-am", "new data by dvc")
    again = tmp_path / "again"
    git(tmp_path, "clone", "-q", str(clone), str(again))
    assert "7 files fetched" in ok(run_cli("data", "fetch", cwd=again))  # ... we fetch into a fresh clone
    run_dvc(again, "checkout")  # and DVC checks out from what we fetched
    assert (again / "data" / "new.txt").read_bytes() == b"written by dvc\n"
    assert ok(run_cli("data", "pull", cwd=again)).strip() == "Everything is up to date."
