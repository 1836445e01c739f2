"""Outputs in the cache: layout, ``.gitignore``, directories, ``checkout``, ``commit``, ``gc -w`` and ``add``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import git, md5

from jupyter_exp.repo import Repo

PIPELINE = """\
stages:
  split:
    cmd: mkdir -p parts/sub && cp data.csv parts/a.csv && echo b > parts/sub/b.txt
    deps: [data.csv]
    outs: [parts]
  count:
    cmd: cat parts/a.csv parts/sub/b.txt | wc -l > count.txt
    deps: [parts]
    outs: [count.txt]
"""


def cache_object(root: Path, digest: str) -> Path:
    return root / ".dvc" / "cache" / "files" / "md5" / digest[:2] / digest[2:]


def lock_outs(root: Path) -> dict[str, dict]:
    stages = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    return {out["path"]: out for entry in stages.values() for out in entry.get("outs", [])}


def referenced_objects_exist(root: Path) -> None:
    for out in lock_outs(root).values():
        assert cache_object(root, out["md5"]).is_file(), out
        if out["md5"].endswith(".dir"):
            for entry in json.loads(cache_object(root, out["md5"]).read_text()):
                assert cache_object(root, entry["md5"]).is_file(), entry


@pytest.fixture
def built(git_repo: Path) -> Path:
    (git_repo / "data.csv").write_text("x\n1\n")
    (git_repo / "dvc.yaml").write_text(PIPELINE)
    Repo(git_repo).pipeline.reproduce()
    return git_repo


def test_outputs_are_cached_in_dvc3_layout_and_git_ignored(built: Path) -> None:
    outs = lock_outs(built)
    count = outs["count.txt"]
    assert count["md5"] == md5((built / "count.txt").read_bytes())
    obj = cache_object(built, count["md5"])
    assert obj.read_bytes() == (built / "count.txt").read_bytes()
    assert len(obj.parent.name) == 2 and len(obj.name) == 30
    assert (built / ".gitignore").read_text().splitlines() == ["/parts", "/count.txt"]
    assert git(built, "check-ignore", "parts/a.csv", "count.txt").splitlines() == ["parts/a.csv", "count.txt"]


def test_directory_output_has_a_dir_manifest_and_nfiles(built: Path) -> None:
    parts = lock_outs(built)["parts"]
    assert parts["md5"].endswith(".dir") and parts["nfiles"] == 2 and parts["size"] == 6
    manifest = json.loads(cache_object(built, parts["md5"]).read_text())
    assert manifest == [
        {"md5": md5(b"x\n1\n"), "relpath": "a.csv"},
        {"md5": md5(b"b\n"), "relpath": "sub/b.txt"},
    ]
    assert md5(cache_object(built, parts["md5"]).read_bytes()) + ".dir" == parts["md5"]
    referenced_objects_exist(built)


def test_checkout_restores_deleted_and_modified_outputs(built: Path, run_cli) -> None:
    (built / "count.txt").unlink()
    (built / "parts" / "sub" / "b.txt").write_text("changed\n")
    (built / "parts" / "stray.txt").write_text("not in the output\n")
    result = run_cli("checkout")
    assert result.code == 1
    assert "'parts/sub/b.txt'" in result.err and "'parts/stray.txt'" in result.err and "force" in result.err
    assert (built / "parts" / "sub" / "b.txt").read_text() == "changed\n"  # nothing lost without --force
    result = run_cli("checkout", "--force")
    assert result.code == 0, result.err
    assert (built / "count.txt").exists() and (built / "parts" / "sub" / "b.txt").read_text() == "b\n"
    assert not (built / "parts" / "stray.txt").exists()
    assert Repo(built).pipeline.status() == {}
    assert run_cli("checkout").out.strip() == "Everything is up to date."


def test_checkout_after_switching_git_commits(built: Path, run_cli) -> None:
    git(built, "add", "dvc.yaml", "dvc.lock", "data.csv", ".gitignore")
    git(built, "commit", "-q", "-m", "v1")
    (built / "data.csv").write_text("x\n1\n2\n3\n")
    assert Repo(built).pipeline.reproduce() == ["split", "count"]
    v2_count = (built / "count.txt").read_text()
    git(built, "commit", "-q", "-am", "v2")
    git(built, "checkout", "-q", "HEAD~1")
    assert Repo(built).pipeline.status() == {
        "split": [{"changed outs": {"parts": "modified"}}],
        "count": [{"changed deps": {"parts": "modified"}}, {"changed outs": {"count.txt": "modified"}}],
    }
    assert run_cli("checkout").code == 0
    assert (built / "parts" / "a.csv").read_text() == "x\n1\n"
    assert Repo(built).pipeline.status() == {}
    git(built, "checkout", "-q", "-")
    assert run_cli("checkout").code == 0
    assert (built / "count.txt").read_text() == v2_count
    assert Repo(built).pipeline.status() == {}


def test_commit_records_the_workspace_without_running(built: Path, run_cli) -> None:
    (built / "count.txt").write_text("edited by hand\n")
    result = run_cli("commit")
    assert result.code == 0 and "count" in result.out
    assert lock_outs(built)["count.txt"]["md5"] == md5(b"edited by hand\n")
    assert cache_object(built, md5(b"edited by hand\n")).is_file()
    assert Repo(built).pipeline.status() == {}
    assert run_cli("commit").out.strip() == "Nothing to commit."


def test_gc_workspace_removes_only_unreferenced_objects(built: Path, run_cli) -> None:
    old_count = lock_outs(built)["count.txt"]["md5"]
    (built / "data.csv").write_text("y\n")
    Repo(built).pipeline.reproduce()
    new = lock_outs(built)
    assert new["count.txt"]["md5"] != old_count and cache_object(built, old_count).is_file()
    git(built, "add", "-A")
    git(built, "commit", "-q", "-m", "pipeline")
    result = run_cli("gc", "-w", "-f")
    assert result.code == 0, result.err
    assert not cache_object(built, old_count).is_file()
    referenced_objects_exist(built)
    assert Repo(built).pipeline.status() == {}
    assert run_cli("checkout", "--force").code == 0


def test_add_writes_a_dvc3_file_and_repro_verifies_it(git_repo: Path, run_cli) -> None:
    data = git_repo / "data"
    data.mkdir()
    (data / "users.csv").write_text("id\n1\n")
    result = run_cli("add", "data/users.csv")
    assert result.code == 0
    assert "git add data/users.csv.dvc" in result.out
    assert yaml.safe_load((data / "users.csv.dvc").read_text()) == {
        "outs": [{"md5": md5(b"id\n1\n"), "size": 5, "hash": "md5", "path": "users.csv"}]
    }
    assert (data / "users.csv.dvc").read_text().splitlines()[1] == "- md5: " + md5(b"id\n1\n")  # DVC's key order
    assert (data / ".gitignore").read_text() == "/users.csv\n"
    assert cache_object(git_repo, md5(b"id\n1\n")).read_text() == "id\n1\n"
    (git_repo / "dvc.yaml").write_text(
        "stages:\n  count:\n    cmd: wc -l < data/users.csv > n.txt\n    deps: [data/users.csv]\n    outs: [n.txt]\n"
    )
    result = run_cli("repro")
    assert "'data/users.csv.dvc' didn't change, skipping" in result.out
    assert "Running stage 'count':" in result.out
    assert run_cli("dag").out.splitlines() == ["+-- data/users.csv.dvc", "    +-- count  <- data/users.csv.dvc"]
    (data / "users.csv").write_text("id\n1\n2\n")
    assert Repo(git_repo).pipeline.status()["data/users.csv.dvc"] == [{"changed outs": {"data/users.csv": "modified"}}]
    result = run_cli("repro")
    assert "Verifying data sources in stage: 'data/users.csv.dvc'" in result.out
    assert yaml.safe_load((data / "users.csv.dvc").read_text())["outs"][0]["md5"] == md5(b"id\n1\n2\n")
    assert (git_repo / "n.txt").read_text().strip() == "3"


def test_add_a_directory_and_errors(git_repo: Path, run_cli) -> None:
    (git_repo / "images" / "cats").mkdir(parents=True)
    (git_repo / "images" / "cats" / "1.png").write_bytes(b"\x89PNG1")
    (git_repo / "images" / "2.png").write_bytes(b"\x89PNG2")
    assert run_cli("add", "images").code == 0
    (out,) = yaml.safe_load((git_repo / "images.dvc").read_text())["outs"]
    assert out["md5"].endswith(".dir") and out["nfiles"] == 2 and out["path"] == "images"
    missing = run_cli("add", "nope.csv")
    assert missing.code == 1 and "'nope.csv' does not exist" in missing.err
    (git_repo / "dvc.yaml").write_text("stages:\n  s:\n    cmd: echo > o.txt\n    outs: [o.txt]\n")
    Repo(git_repo).pipeline.reproduce()
    owned = run_cli("add", "o.txt")
    assert owned.code == 1 and "'o.txt' is an output of stage 's'" in owned.err
