"""The dulwich Git layer, checked against the real ``git`` CLI."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from jupyter_exp.errors import NotARepoError, RefRaceError, SCMError
from jupyter_exp.scm.git import Git

from .conftest import git


def commit_file(root: Path, name: str, text: str, message: str) -> str:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    git(root, "add", name)
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def commit_with(g: Git, parent: str, path: str, data: bytes, message: str) -> str:
    """A commit of ``parent``'s files with ``path`` holding ``data``, made through ``g`` (no ref moves)."""
    files = g.flatten(parent)
    files[path] = (0o100644, g.write_blob(data))
    return g.commit_tree(g.write_tree(files), [parent], message)


def test_not_a_repo(tmp_path: Path) -> None:
    with pytest.raises(NotARepoError, match="not a Git repository"):
        Git(tmp_path)


def test_head_branch_and_resolve(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD")
    second = commit_file(repo, "a.txt", "a", "second")
    third = commit_file(repo, "a.txt", "b", "third")
    git(repo, "tag", "v1", first)
    git(repo, "tag", "-a", "v2", "-m", "annotated", second)
    g = Git(repo)
    assert g.head() == third
    assert g.branch() == "main"
    assert g.resolve("HEAD") == third
    assert g.resolve("HEAD^") == second
    assert g.resolve("HEAD~2") == first
    assert g.resolve("main~1") == second
    assert g.resolve("v1") == first
    assert g.resolve("v2") == second  # annotated tag peeled to its commit
    assert g.resolve(third[:7]) == third
    assert g.resolve("refs/heads/main") == third
    with pytest.raises(SCMError, match="Unknown Git revision 'nope'"):
        g.resolve("nope")
    with pytest.raises(SCMError, match="has no parent"):
        g.resolve("HEAD~5")
    git(repo, "checkout", "-q", "--detach", "HEAD")
    assert Git(repo).branch() is None


def test_commit_info(repo: Path) -> None:
    g = Git(repo)
    info = g.commit_info(g.head())
    assert info.message == "first\n"
    assert info.parents == ()
    assert "Tester" in info.author
    assert abs(info.time.timestamp() - int(git(repo, "log", "-1", "--format=%ct"))) < 1
    second = commit_file(repo, "a.txt", "a", "second")
    at = g.tree_at_commit(second)
    assert at.tree.read_bytes("a.txt") == b"a" and at.parents == [info.sha]
    assert at.time == int(git(repo, "log", "-1", "--format=%ct"))
    assert at.tz == int(info.time.utcoffset().total_seconds())  # same machine, same zone


def test_tree_reads_a_commit_without_checkout(repo: Path) -> None:
    g = Git(repo)
    (repo / "params.yaml").write_text("lr: 0.5\n")  # the workspace changes, the commit does not
    tree = g.tree("HEAD")
    assert tree.read_bytes("params.yaml") == b"lr: 0.1\n"
    assert tree.exists("src/train.py") and not tree.exists("src/nope.py")
    assert tree.isdir("src") and not tree.isdir("params.yaml")
    assert tree.listdir("") == [".gitignore", "params.yaml", "src"]
    assert tree.listdir("src") == ["train.py"]
    with pytest.raises(FileNotFoundError):
        tree.read_bytes("src")
    assert [p for p, _m, _s in tree.walk_files()] == [".gitignore", "params.yaml", "src/train.py"]


def three_refs_two_packed(repo: Path) -> tuple[Git, str]:
    """exp-1 and exp-2 in ``packed-refs``, exp-3 loose, all at HEAD."""
    g = Git(repo)
    head = g.head()
    g.set_ref("refs/exps/ab/cdef/exp-1", head)
    g.set_ref("refs/exps/ab/cdef/exp-2", head)
    git(repo, "pack-refs", "--all")
    g.set_ref("refs/exps/ab/cdef/exp-3", head)
    return g, head


def test_refs_loose_packed_and_symbolic(repo: Path) -> None:
    g, head = three_refs_two_packed(repo)
    g.set_symbolic_ref("refs/exps/exec/EXEC_BRANCH", "refs/exps/ab/cdef/exp-3")
    refs = g.refs("refs/exps/")
    assert refs == {
        "refs/exps/ab/cdef/exp-1": head,
        "refs/exps/ab/cdef/exp-2": head,
        "refs/exps/ab/cdef/exp-3": head,
        "refs/exps/exec/EXEC_BRANCH": head,
    }
    assert g.refs("refs/heads") == {"refs/heads/main": head}
    g.delete_ref("refs/exps/ab/cdef/exp-1")  # a packed ref
    assert "refs/exps/ab/cdef/exp-1" not in g.refs("refs/exps")
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/exps/ab").splitlines() == [
        "refs/exps/ab/cdef/exp-2",
        "refs/exps/ab/cdef/exp-3",
    ]
    with pytest.raises(SCMError, match="not a valid Git ref"):
        g.set_ref("refs/exps/bad..name", head)


def test_set_ref_compare_and_swap(repo: Path) -> None:
    g = Git(repo)
    first = g.head()
    second = commit_file(repo, "a.txt", "a", "second")
    g.set_ref("refs/exps/x", first)
    with pytest.raises(SCMError, match="moved by another process"):
        g.set_ref("refs/exps/x", second, old=second)
    g.set_ref("refs/exps/x", second, old=first)
    assert g.get_ref("refs/exps/x") == second


def test_snapshot_commits_the_workspace_and_moves_nothing(repo: Path) -> None:
    g = Git(repo)
    head = g.head()
    index_before = (repo / ".git" / "index").read_bytes()
    (repo / "params.yaml").write_text("lr: 0.2\n")  # tracked, modified
    (repo / "metrics.json").write_text('{"acc": 0.9}')  # untracked
    (repo / "debug.log").write_text("noise")  # ignored
    (repo / "build").mkdir()
    (repo / "build" / "out.bin").write_bytes(b"\0")  # ignored folder
    (repo / "src" / "train.py").unlink()  # tracked, deleted
    (repo / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(repo / "run.sh", 0o755)
    sha = g.snapshot(head, "dvc: commit experiment abc")
    assert g.head() == head and git(repo, "rev-parse", "HEAD") == head
    assert (repo / ".git" / "index").read_bytes() == index_before
    assert git(repo, "branch", "--list") == "* main"
    files = git(repo, "ls-tree", "-r", "--name-only", sha).splitlines()
    assert files == [".gitignore", "metrics.json", "params.yaml", "run.sh"]
    assert git(repo, "show", f"{sha}:params.yaml") == "lr: 0.2"
    assert git(repo, "ls-tree", sha, "run.sh").startswith("100755")
    assert git(repo, "log", "--format=%P %s", "-1", sha) == f"{head} dvc: commit experiment abc"
    subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=repo, check=True, capture_output=True)
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True)
    assert status.stdout.splitlines() == [
        " M params.yaml",
        " D src/train.py",
        "?? metrics.json",
        "?? run.sh",
    ]


def test_snapshot_keeps_tracked_files_that_match_an_ignore_rule(repo: Path) -> None:
    (repo / "keep.log").write_text("tracked anyway")
    git(repo, "add", "-f", "keep.log")
    git(repo, "commit", "-q", "-m", "force-added")
    g = Git(repo)
    sha = g.snapshot(g.head(), "snap")
    assert "keep.log" in git(repo, "ls-tree", "-r", "--name-only", sha).splitlines()


def test_snapshot_of_some_paths_starts_from_the_parent(repo: Path) -> None:
    g = Git(repo)
    head = g.head()
    (repo / "params.yaml").write_text("lr: 0.3\n")
    (repo / "src" / "train.py").write_text("changed\n")
    (repo / "model.txt").write_text("weights\n")
    sha = g.snapshot(head, "checkpoint", paths=["params.yaml", "model.txt"])
    tree = g.tree(sha)
    assert tree.read_bytes("params.yaml") == b"lr: 0.3\n"
    assert tree.read_bytes("model.txt") == b"weights\n"
    assert tree.read_bytes("src/train.py") == b"print('hi')\n"  # not listed: as in the parent
    (repo / "model.txt").unlink()
    again = g.snapshot(sha, "checkpoint 2", paths=["model.txt", "src"])
    assert not g.tree(again).exists("model.txt")
    assert g.tree(again).read_bytes("src/train.py") == b"changed\n"
    subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=repo, check=True, capture_output=True)


def test_blobs_and_a_linked_workspace_sharing_objects_and_refs(repo: Path, tmp_path: Path) -> None:
    g = Git(repo)
    base = g.head()
    queued = commit_with(g, base, "params.yaml", b"lr: 0.5\n", "queued")
    assert g.read_blob(g.flatten(queued)["params.yaml"][1]) == b"lr: 0.5\n"
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "exclude").write_text("scratch/\n")
    linked = tmp_path / "linked"
    g.add_linked_workspace(linked, files_of=queued, head=base)
    assert (linked / "params.yaml").read_text() == "lr: 0.5\n"
    assert (linked / "src" / "train.py").read_text() == "print('hi')\n"
    assert git(linked, "rev-parse", "HEAD") == base
    assert git(linked, "status", "--porcelain") == "M  params.yaml"  # index: the files; HEAD: the baseline
    assert Git(linked).is_ignored("scratch/notes.txt") and Git(linked).is_ignored("debug.log")
    made = Git(linked).snapshot(base, "made in the linked workspace")
    Git(linked).set_ref("refs/exps/linked", made)
    assert g.get_ref("refs/exps/linked") == made and g.has_commit(made)
    subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=repo, check=True, capture_output=True)


def test_objects_exported_to_a_bare_repository_and_back(repo: Path, tmp_path: Path) -> None:
    g = Git(repo)
    base = g.head()
    queued = commit_with(g, base, "params.yaml", b"lr: 0.5\n", "queued")
    store = Git.init_bare(tmp_path / "store.git")
    shipped = store.import_objects(g.export_objects([queued, base]))
    assert set(shipped) == set(git(repo, "rev-list", "--objects", "--no-object-names", queued).split())
    store.set_ref("refs/heads/queued", queued)  # fsck then checks that the commits arrived whole
    subprocess.run(["git", "fsck", "--strict"], cwd=store.root, check=True, capture_output=True)
    assert git(store.root, "show", "queued:params.yaml") == "lr: 0.5"

    made = commit_with(store, queued, "src/train.py", b"print('made')\n", "made on the other side")
    back = g.import_objects(store.export_objects([made], exclude=shipped))
    new_objects = git(repo, "rev-list", "--objects", "--no-object-names", made, f"^{queued}").split()
    assert sorted(back) == sorted(new_objects) and len(back) == 4  # commit, root tree, src tree, blob
    g.set_ref("refs/exps/made", made)
    subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=repo, check=True, capture_output=True)
    assert git(repo, "show", "refs/exps/made:src/train.py") == "print('made')"


def test_dirty_paths_and_is_ignored(repo: Path) -> None:
    g = Git(repo)
    assert g.dirty_paths() == []
    (repo / "params.yaml").write_text("lr: 0.4\n")
    (repo / "new.txt").write_text("x")
    (repo / "x.log").write_text("x")
    (repo / "src" / "train.py").unlink()
    (repo / "build").mkdir()
    (repo / "build" / "x.o").write_text("x")
    assert g.dirty_paths() == ["new.txt", "params.yaml", "src/train.py"]
    assert g.is_ignored("x.log") and g.is_ignored("build") and not g.is_ignored("new.txt")


def test_ancestors_and_is_ancestor(repo: Path) -> None:
    g = Git(repo)
    first = g.head()
    second = commit_file(repo, "a.txt", "1", "2")
    third = commit_file(repo, "a.txt", "2", "3")
    assert list(g.ancestors(third)) == [third, second, first]
    assert list(g.ancestors(third, stop=[first])) == [third, second]
    assert g.is_ancestor(first, third) and not g.is_ancestor(third, first)


def test_branches_tags_and_all_commits(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD")
    git(repo, "branch", "dev")
    second = commit_file(repo, "a.txt", "1", "2")
    git(repo, "tag", "-a", "v1", "-m", "tag", first)
    g = Git(repo)
    assert g.branches() == {"main": second, "dev": first}
    assert g.tags() == {"v1": first}
    assert sorted(g.all_commits()) == sorted([second, first])


def test_push_and_fetch_refs_to_a_bare_remote(repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    g = Git(repo)
    exp = g.snapshot(g.head(), "exp")
    ref = f"refs/exps/{g.head()[:2]}/{g.head()[2:]}/exp-1"
    g.set_ref(ref, exp)
    g.push_refs("origin", [ref])
    assert git(bare, "rev-parse", ref) == exp
    assert g.remote_refs("origin", "refs/exps/") == {ref: exp}

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    other = Git(clone)
    assert other.get_ref(ref) is None
    fetched = other.fetch_refs("origin", lambda name: name.startswith("refs/exps/"))
    assert fetched == {ref: exp}
    assert other.get_ref(ref) == exp
    assert other.tree(exp).read_bytes("params.yaml") == b"lr: 0.1\n"
    subprocess.run(["git", "fsck", "--strict"], cwd=clone, check=True, capture_output=True)

    g.push_refs("origin", [ref], delete=True)
    assert g.remote_refs("origin", "refs/exps/") == {}


def test_a_killed_writers_leftovers_never_block_the_next_commit(repo: Path) -> None:
    """A writer killed mid-object leaves dulwich's ``<object>.lock`` (before) or a ``tmp_obj_*`` file (ours);
    the next commit of the very same content must still succeed, and git must find the repository sound."""
    g = Git(repo)
    head = g.head()
    (repo / "params.yaml").write_text("lr: 0.3\n")
    blob = git(repo, "hash-object", "params.yaml")
    folder = repo / ".git" / "objects" / blob[:2]
    folder.mkdir(exist_ok=True)
    (folder / f"{blob[2:]}.lock").write_bytes(b"x\x9c partial")  # dulwich's lock, its writer killed
    (folder / "tmp_obj_host-1-0a0a0a").write_bytes(b"partial")  # ours, its writer killed
    sha = g.snapshot(head, "after a kill")
    assert git(repo, "show", f"{sha}:params.yaml") == "lr: 0.3"
    assert (folder / blob[2:]).is_file()
    again = commit_with(g, sha, "params.yaml", b"lr: 0.3\n", "the same content again")
    assert git(repo, "rev-parse", f"{again}:params.yaml") == blob
    fsck = subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=repo, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
    assert "error" not in fsck.stderr and "tmp_obj_" not in fsck.stderr  # (the planted .lock is only garbage)


def test_a_ref_lock_left_by_a_killed_writer_is_taken_over(repo: Path) -> None:
    """git refuses while ``<ref>.lock`` exists; a lock that stays unchanged far longer than any ref write
    was left by a killed writer, so the next update (say, a resumed checkpoint run) takes it over."""
    import threading

    g = Git(repo)
    head = g.head()
    ref = "refs/exps/ab/cdef/exp-1"
    lock = repo / ".git" / "refs" / "exps" / "ab" / "cdef" / "exp-1.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(f"{head}\n")  # its writer was killed before the rename
    g.set_ref(ref, head)
    assert git(repo, "rev-parse", ref) == head and not lock.exists()
    # A live writer's lock is waited for, not taken: it finishes its update, and ours then sees the ref moved.
    second = commit_with(g, head, "new.txt", b"new\n", "second")
    third = commit_with(g, head, "new.txt", b"newer\n", "third")
    lock.write_text(f"{second}\n")
    writer = threading.Timer(0.3, os.replace, (lock, lock.with_name("exp-1")))
    writer.start()
    with pytest.raises(RefRaceError, match="moved by another process"):
        g.set_ref(ref, third, old=head)
    writer.join()
    assert git(repo, "rev-parse", ref) == second


def test_deleting_refs_takes_over_locks_killed_writers_left(repo: Path) -> None:
    """``exp remove``/``exp gc`` go through dulwich for ``packed-refs`` and loose refs: their ``.lock`` files,
    left by a writer killed mid-delete, no longer make every later delete fail."""
    g, head = three_refs_two_packed(repo)
    (repo / ".git" / "packed-refs.lock").write_text("half of a rewrite")
    (repo / ".git" / "refs" / "exps" / "ab" / "cdef" / "exp-3.lock").write_text(f"{head}\n")
    g.delete_refs(["refs/exps/ab/cdef/exp-1", "refs/exps/ab/cdef/exp-3"])
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/exps/").splitlines() == ["refs/exps/ab/cdef/exp-2"]
    assert not list((repo / ".git").rglob("*.lock"))
    subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=repo, check=True, capture_output=True)
