"""A directory hash after a few changes reads only those files and equals a hash from scratch.

The manifest is composed from remembered per-folder rows (``data/listing.py``); these tests change a
tree in every way a user can (edit, add, delete, rename, move between folders, new and removed
folders, names that sort around ``/``) and compare with a hasher that remembers nothing, and, at a
few thousand files, with the real DVC's ``dvc add``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import run_dvc

from jupyter_exp.data import listing
from jupyter_exp.data.cache import Cache
from jupyter_exp.data.files import PARALLEL_FILES
from jupyter_exp.data.hashing import Hasher, HashInfo, manifest_bytes
from jupyter_exp.data.listing import scan
from jupyter_exp.data.state import StateDB
from jupyter_exp.errors import CacheError
from jupyter_exp.pipeline.repro import Pipeline


def tricky_tree(root: Path) -> None:
    """Files beside folders, names sorting just before and after ``name/``, non-ASCII, nesting."""
    for rel in ["a.txt", "a-b", "a0", "a/x", "a/y/z", "a b/c", "ünï/é", "q/r/s/t", "top"]:
        path = root / "data" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_dir():
            path.write_text(f"content of {rel}\n")
    for i in range(60):
        path = root / "data" / f"leaf{i % 4}" / f"f{i:03d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"{i}\n".encode() * 20)


def from_scratch(root: Path, tmp: Path) -> HashInfo:
    with Hasher(root, state=StateDB(root, path=tmp / "fresh.sqlite")) as hasher:
        info, entries = hasher.hash_tree("data")
    (tmp / "fresh.sqlite").unlink()
    assert hasher.stats.files_read == info.nfiles
    assert info.md5.removesuffix(".dir") == hashlib.md5(manifest_bytes(entries)).hexdigest()
    return info


def _rename(src: str, dst: str) -> Callable[[Path], None]:
    def change(data: Path) -> None:
        (data / dst).parent.mkdir(parents=True, exist_ok=True)
        (data / src).rename(data / dst)

    return change


def _empty(folder: str) -> Callable[[Path], None]:
    def change(data: Path) -> None:
        shutil.rmtree(data / folder)
        (data / folder).mkdir()

    return change


EDITS: dict[str, tuple[Callable[[Path], None], int]] = {
    # name: (change to data/, files that must be read)
    "edit in a leaf folder": (lambda d: (d / "leaf2" / "f006.bin").write_text("edited\n"), 1),
    "edit beside subfolders": (lambda d: (d / "a.txt").write_text("edited\n"), 1),
    "edit deep": (lambda d: (d / "q" / "r" / "s" / "t").write_text("edited\n"), 1),
    "add a file": (lambda d: (d / "leaf0" / "new.bin").write_text("new\n"), 1),
    "add a file sorting next to a folder": (lambda d: (d / "a.").write_text("dot\n"), 1),
    "delete a file": (lambda d: (d / "leaf1" / "f001.bin").unlink(), 0),
    "rename in its folder": (_rename("leaf3/f003.bin", "leaf3/zzz.bin"), 0),
    "move to another folder": (_rename("leaf3/f007.bin", "leaf0/f007.bin"), 0),
    "move into a new folder": (_rename("top", "new/dir/top"), 0),
    "remove a folder": (lambda d: shutil.rmtree(d / "ünï"), 0),
    "empty a folder": (_empty("a b"), 0),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_hash_after_a_change_equals_a_hash_from_scratch_and_reads_only_the_change(
    tmp_path: Path, edit: str
) -> None:
    root = tmp_path / "repo"
    tricky_tree(root)
    with Hasher(root) as hasher:
        before = hasher.hash("data")
    assert before == from_scratch(root, tmp_path)
    change, reads = EDITS[edit]
    change(root / "data")
    with Hasher(root) as hasher:
        after = hasher.hash("data")
        assert hasher.stats.files_read == reads
    assert after != before
    assert after == from_scratch(root, tmp_path)
    with Hasher(root) as hasher:  # and the entries a cache save needs agree with it
        info, entries = hasher.hash_tree("data")
    assert info == after and [e.relpath for e in entries] == sorted(e.relpath for e in entries)


def test_a_tree_listed_by_several_processes_is_the_tree_listed_in_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large trees finish their folder listing in forked processes: same listings, hash and errors."""
    root = tmp_path / "repo"
    tricky_tree(root)
    (root / "data" / "q" / "r" / "s" / ".git").mkdir()  # skipped at any depth, in children too
    in_turn = scan(str(root / "data"))
    monkeypatch.setattr(listing, "PARALLEL_MIN_FILES", 0)
    # This test process may still run threads another test left (dask's); the listing code would not fork.
    monkeypatch.setattr(listing, "_can_fork", lambda: True)
    forked: list[int] = []
    real_fork = os.fork
    monkeypatch.setattr(os, "fork", lambda: forked.append(1) or real_fork())
    assert scan(str(root / "data"), jobs=3) == in_turn
    assert len(forked) == 2  # two children and this process shared the folders
    with Hasher(root, jobs=2) as hasher:
        assert hasher.hash("data") == from_scratch(root, tmp_path)

    (root / "data" / "q" / "r" / "dangling").symlink_to(root / "nowhere")
    with pytest.raises(CacheError, match=r"cannot hash '.*/data/q/r/dangling': it is a broken symlink"):
        scan(str(root / "data"), jobs=2)
    # the same error found by a child (the second share) reaches the caller
    shares = [("a/", str(root / "data" / "a")), ("q/", str(root / "data" / "q"))]
    with pytest.raises(CacheError, match=r"cannot hash '.*/data/q/r/dangling': it is a broken symlink"):
        listing._scan_forked(shares, None, "", 2)


def test_a_process_running_other_threads_lists_in_turn() -> None:
    """A lock another thread holds at the fork would stay held in the child forever."""
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not listing._can_fork()
    finally:
        stop.set()
        other.join()


def test_status_after_one_change_in_thousands_of_files_reads_one_file(tmp_path: Path) -> None:
    (tmp_path / ".dvc").mkdir()
    for i in range(3000):
        path = tmp_path / "data" / f"d{i % 30:02d}" / f"f{i:04d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"{i}\n".encode())
    Pipeline(tmp_path).add([str(tmp_path / "data")])
    assert Pipeline(tmp_path).status() == {}
    (tmp_path / "data" / "d07" / "f0007.bin").write_text("changed\n")
    pipeline = Pipeline(tmp_path)
    assert pipeline.status() == {"data.dvc": [{"changed outs": {"data": "modified"}}]}
    assert pipeline.hasher.stats.files_read == 1
    assert pipeline.hasher.stats.file_state_hits == 2999


@pytest.mark.dvc
def test_incremental_hash_equals_dvc_add_after_changes(tmp_path: Path) -> None:
    tricky_tree(tmp_path)
    for i in range(2000):
        path = tmp_path / "data" / f"d{i % 20:02d}" / f"f{i:04d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"{i}\n".encode())
    run_dvc(tmp_path, "init", "--no-scm", "-q")
    with Hasher(tmp_path) as hasher:
        hasher.hash("data")
    for change, _ in EDITS.values():
        change(tmp_path / "data")
    with Hasher(tmp_path) as hasher:
        ours = hasher.hash("data")
        assert hasher.stats.files_read == 5
    run_dvc(tmp_path, "add", "-q", "data")
    (out,) = yaml.safe_load((tmp_path / "data.dvc").read_text())["outs"]
    assert HashInfo.from_lock_entry(out) == ours


@pytest.mark.parametrize("link", ["reflink", "hardlink", "symlink"])
def test_hundreds_of_files_save_and_check_out_on_threads_without_rereads(tmp_path: Path, link: str) -> None:
    """Above PARALLEL_FILES files are placed on threads; every file arrives and is known to the state db."""
    files = {f"d{i % 7}/f{i:03d}.txt": f"{i}\n".encode() * (i % 5) for i in range(PARALLEL_FILES * 4)}
    for rel, data in files.items():
        (tmp_path / "data" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / rel).write_bytes(data)
    cache = Cache(tmp_path, link_types=(link, "copy"))
    info = cache.save("data")
    assert len(list(cache.all_objects())) == len(set(files.values())) + 1  # duplicates stored once
    shutil.rmtree(tmp_path / "data")
    result = Cache(tmp_path, link_types=(link, "copy")).checkout("data", info)
    assert len(result.added) == len(files)
    assert {rel: (tmp_path / "data" / rel).read_bytes() for rel in files} == files
    with Hasher(tmp_path) as hasher:
        assert hasher.hash("data") == info
        assert hasher.stats.files_read == 0


@pytest.mark.parametrize("files", [3, 3000])  # a stat per object; listings, remembered
def test_a_directory_found_in_cache_is_checked_again_once_an_object_goes(tmp_path: Path, files: int) -> None:
    root = tmp_path / "ws"
    for i in range(files):
        (root / "data" / f"d{i % 7}").mkdir(parents=True, exist_ok=True)
        (root / "data" / f"d{i % 7}" / f"f{i}.txt").write_text(f"file {i}\n")
    cache = Cache(root)
    info = cache.save("data")
    if files > 2048:  # save remembered the directory complete: no listing of the cache to answer
        listed = Cache(root)
        listed._all_present = lambda md5s: pytest.fail("listed the cache after a save")  # type: ignore[method-assign]
        assert listed.exists(info)
    assert cache.exists(info) and cache.exists(info)  # the second answer comes from the state db

    gone = cache.load_dir_manifest(info.md5)[files // 2].md5
    cache.object_path(gone).chmod(0o644)
    cache.object_path(gone).unlink()
    assert not cache.exists(info)
    assert not Cache(root).exists(info)
