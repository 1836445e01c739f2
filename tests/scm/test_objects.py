"""Bulk object and ref reads (what a cold ``exp show`` of thousands of experiments does) agree with Git."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from jupyter_exp.scm.git import Git

from .conftest import git


def _objects(repo: Path) -> list[str]:
    listing = git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype)")
    return [line.split()[0] for line in listing.splitlines()]


def _content(repo: Path, sha: str) -> bytes:
    kind = git(repo, "cat-file", "-t", sha)
    return subprocess.run(["git", "cat-file", kind, sha], cwd=repo, check=True, capture_output=True).stdout


def _history(repo: Path, count: int) -> None:
    for i in range(count):  # similar files in every commit, so a gc stores most of them as deltas
        (repo / "params.yaml").write_text(f"train:\n  lr: {i / count}\n  epochs: {i}\n" + "pad: x\n" * 50)
        git(repo, "add", "params.yaml")
        git(repo, "commit", "-q", "-m", f"c{i}")


def test_packed_deltas_and_loose_objects_read_as_git_stores_them(repo: Path) -> None:
    _history(repo, 12)
    git(repo, "gc", "-q", "--aggressive")
    (repo / "late.txt").write_text("written after the pack\n")
    loose = git(repo, "hash-object", "-w", "late.txt")
    g = Git(repo)
    shas = _objects(repo)
    assert loose in shas and len(shas) > 30
    for sha in shas:
        assert g.objects.raw(sha.encode())[1] == _content(repo, sha)


def test_commit_headers_and_packed_refs(repo: Path) -> None:
    _history(repo, 3)
    git(repo, "tag", "v1")
    git(repo, "update-ref", "refs/exps/ab/cdef/exp-1", "HEAD~1")
    git(repo, "pack-refs", "--all")
    g = Git(repo)
    head = git(repo, "rev-parse", "HEAD")
    assert g.head() == head and g.branch() == git(repo, "branch", "--show-current")
    assert g.get_ref("refs/exps/ab/cdef/exp-1") == git(repo, "rev-parse", "HEAD~1")
    assert g.resolve("v1") == head
    assert g.get_ref("refs/../../HEAD") is None  # not a ref name: never a path outside refs/
    at = g.tree_at_commit(head)
    assert at.parents == [git(repo, "rev-parse", "HEAD~1")]
    assert at.time == int(git(repo, "log", "-1", "--format=%ct"))
    assert at.tree.read_bytes("params.yaml") == (repo / "params.yaml").read_bytes()
    git(repo, "update-ref", "refs/exps/ab/cdef/exp-1", "HEAD")  # a loose ref now hides the packed one
    assert g.get_ref("refs/exps/ab/cdef/exp-1") == head


def test_a_big_loose_object_reads_whole(repo: Path) -> None:
    (repo / "big.bin").write_bytes(bytes(range(256)) * 4096 + b"end")  # 1 MB that deflates small
    (repo / "noise.bin").write_bytes(os.urandom(300_000))  # incompressible: a loose file over 64 KB
    for name in ("big.bin", "noise.bin"):
        sha = git(repo, "hash-object", "-w", name)
        assert Git(repo).objects.raw(sha.encode()) == (3, (repo / name).read_bytes())
