"""The cache: DVC 3's object layout, saving, checkout (and its refusal to lose work), gc."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import files_under, md5, write_bytes

from jupyter_exp.data.cache import Cache
from jupyter_exp.data.hashing import HashInfo
from jupyter_exp.errors import CacheError, DirtyWorkspaceError
from jupyter_exp.fsutil import HOST


def make_dir(root: Path) -> dict[str, bytes]:
    files = {"a.txt": b"alpha\n", "sub/b.txt": b"beta\n", "sub/deeper/c.bin": os.urandom(3000)}
    for rel, data in files.items():
        write_bytes(root / "data" / rel, data)
    return files


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path)


def test_file_object_layout_and_read_only(tmp_path: Path, cache: Cache) -> None:
    write_bytes(tmp_path / "model.pkl", b"weights")
    info = cache.save("model.pkl")
    obj = tmp_path / ".dvc" / "cache" / "files" / "md5" / info.md5[:2] / info.md5[2:]
    assert cache.object_path(info.md5) == obj
    assert obj.read_bytes() == b"weights"
    assert stat.S_IMODE(obj.stat().st_mode) == 0o444
    assert cache.exists(info)
    # copy link type: the workspace file stays a separate, writable file
    ws = tmp_path / "model.pkl"
    assert ws.read_bytes() == b"weights" and os.access(ws, os.W_OK)
    assert ws.stat().st_ino != obj.stat().st_ino
    assert list(cache.all_objects()) == [info.md5]


def test_dir_save_writes_manifest_object(tmp_path: Path, cache: Cache) -> None:
    files = make_dir(tmp_path)
    info = cache.save("data")
    assert info.isdir and info.nfiles == 3 and info.size == sum(map(len, files.values()))
    manifest = cache.object_path(info.md5)
    assert manifest.name.endswith(".dir") and stat.S_IMODE(manifest.stat().st_mode) == 0o444
    assert md5(manifest.read_bytes()) + ".dir" == info.md5
    entries = cache.load_dir_manifest(info.md5)
    assert {e.relpath: e.md5 for e in entries} == {rel: md5(data) for rel, data in files.items()}
    assert cache.exists(info)
    assert set(cache.all_objects()) == {info.md5, *(md5(d) for d in files.values())}
    assert files_under(tmp_path / "data") == files


def test_save_rejects_stale_hash_info(tmp_path: Path, cache: Cache) -> None:
    write_bytes(tmp_path / "x", b"new")
    with pytest.raises(CacheError, match="'x' changed"):
        cache.save("x", HashInfo(md5(b"old"), 3))


def test_checkout_restores_deleted_and_modified_file(tmp_path: Path, cache: Cache) -> None:
    write_bytes(tmp_path / "f.csv", b"v1")
    v1 = cache.save("f.csv")
    (tmp_path / "f.csv").unlink()
    assert cache.changed("f.csv", v1)
    assert cache.checkout("f.csv", v1).added == ["f.csv"]
    assert (tmp_path / "f.csv").read_bytes() == b"v1"
    # a modified file whose content is saved can be replaced without force
    write_bytes(tmp_path / "f.csv", b"v2")
    cache.save("f.csv")
    result = cache.checkout("f.csv", v1)
    assert result.modified == ["f.csv"]
    assert (tmp_path / "f.csv").read_bytes() == b"v1"
    assert not cache.checkout("f.csv", v1)
    assert not cache.changed("f.csv", v1)


def test_checkout_refuses_unsaved_changes_unless_forced(tmp_path: Path, cache: Cache) -> None:
    write_bytes(tmp_path / "f.csv", b"v1")
    v1 = cache.save("f.csv")
    write_bytes(tmp_path / "f.csv", b"precious unsaved work")
    with pytest.raises(DirtyWorkspaceError, match="'f.csv'"):
        cache.checkout("f.csv", v1)
    assert (tmp_path / "f.csv").read_bytes() == b"precious unsaved work"
    cache.checkout("f.csv", v1, force=True)
    assert (tmp_path / "f.csv").read_bytes() == b"v1"


def test_dir_checkout_restores_and_removes_extras(tmp_path: Path, cache: Cache) -> None:
    files = make_dir(tmp_path)
    info = cache.save("data")
    data = tmp_path / "data"
    (data / "a.txt").unlink()
    write_bytes(data / "sub" / "b.txt", b"saved edit\n")
    cache.save("data/sub/b.txt")
    write_bytes(data / "extra" / "nested" / "saved.txt", b"also saved")
    cache.save("data/extra/nested/saved.txt")
    result = cache.checkout("data", info)
    assert result.added == ["data/a.txt"]
    assert result.modified == ["data/sub/b.txt"]
    assert result.deleted == ["data/extra/nested/saved.txt"]
    assert files_under(data) == files
    assert not (data / "extra").exists()
    # the checkout recorded its hashes: hashing again reads nothing
    reads = cache.hasher.stats.files_read
    assert cache.hasher.hash("data") == info
    assert cache.hasher.stats.files_read == reads


def test_dir_checkout_refuses_unsaved_extra_or_edited_files(tmp_path: Path, cache: Cache) -> None:
    files = make_dir(tmp_path)
    info = cache.save("data")
    write_bytes(tmp_path / "data" / "notes.md", b"mine")
    write_bytes(tmp_path / "data" / "sub" / "b.txt", b"mine too")
    with pytest.raises(DirtyWorkspaceError) as err:
        cache.checkout("data", info)
    assert "'data/notes.md'" in str(err.value) and "'data/sub/b.txt'" in str(err.value)
    assert (tmp_path / "data" / "notes.md").read_bytes() == b"mine"
    cache.checkout("data", info, force=True)
    assert files_under(tmp_path / "data") == files


def test_checkout_replaces_file_with_dir_and_back(tmp_path: Path, cache: Cache) -> None:
    files = make_dir(tmp_path)
    dir_info = cache.save("data")
    os.rename(tmp_path / "data", tmp_path / "old")
    write_bytes(tmp_path / "data", b"now a file")
    file_info = cache.save("data")
    assert cache.checkout("data", dir_info).deleted == ["data"]
    assert files_under(tmp_path / "data") == files
    cache.checkout("data", file_info)
    assert (tmp_path / "data").read_bytes() == b"now a file"


def test_checkout_of_missing_object_names_the_path(tmp_path: Path, cache: Cache) -> None:
    with pytest.raises(CacheError, match="'model.pkl'"):
        cache.checkout("model.pkl", HashInfo(md5(b"never saved"), 11))


def test_checkout_restores_exec_bit_on_copies(tmp_path: Path, cache: Cache) -> None:
    script = write_bytes(tmp_path / "train.sh", b"#!/bin/sh\n")
    script.chmod(0o755)
    info = cache.save("train.sh")
    assert info.isexec
    script.unlink()
    cache.checkout("train.sh", info)
    assert script.stat().st_mode & stat.S_IXUSR


def test_hardlink_workspace_shares_the_object(tmp_path: Path) -> None:
    cache = Cache(tmp_path, link_types=("hardlink", "copy"))
    make_dir(tmp_path)
    info = cache.save("data")
    ws = tmp_path / "data" / "a.txt"
    assert ws.stat().st_ino == cache.object_path(md5(b"alpha\n")).stat().st_ino
    ws.unlink()
    cache.checkout("data", info)
    assert ws.stat().st_ino == cache.object_path(md5(b"alpha\n")).stat().st_ino
    assert stat.S_IMODE(cache.object_path(md5(b"alpha\n")).stat().st_mode) == 0o444


def test_symlink_workspace_points_into_cache(tmp_path: Path) -> None:
    cache = Cache(tmp_path, link_types=("symlink",))
    write_bytes(tmp_path / "big.bin", b"large data")
    info = cache.save("big.bin")
    ws = tmp_path / "big.bin"
    assert ws.is_symlink() and Path(os.readlink(ws)) == cache.object_path(info.md5)
    assert ws.read_bytes() == b"large data"
    ws.unlink()
    cache.checkout("big.bin", info)
    assert ws.is_symlink() and ws.read_bytes() == b"large data"


def test_symlink_save_of_a_user_symlink_stores_data(tmp_path: Path) -> None:
    cache = Cache(tmp_path, link_types=("symlink",))
    write_bytes(tmp_path / "elsewhere" / "real.bin", b"real data")
    (tmp_path / "link.bin").symlink_to(tmp_path / "elsewhere" / "real.bin")
    info = cache.save("link.bin")
    obj = cache.object_path(info.md5)
    assert not obj.is_symlink() and obj.read_bytes() == b"real data"
    assert (tmp_path / "link.bin").read_bytes() == b"real data"


def test_reflink_falls_back_when_unsupported(tmp_path: Path) -> None:
    cache = Cache(tmp_path, link_types=("reflink", "copy"))
    write_bytes(tmp_path / "f", b"data")
    info = cache.save("f")
    (tmp_path / "f").unlink()
    cache.checkout("f", info)
    assert (tmp_path / "f").read_bytes() == b"data"
    assert not (tmp_path / "f").is_symlink()


def test_unknown_link_type_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(CacheError, match="teleport"):
        Cache(tmp_path, link_types=("teleport",))


def test_custom_cache_dir(tmp_path: Path) -> None:
    cache = Cache(tmp_path, cache_dir=tmp_path / "shared-cache")
    write_bytes(tmp_path / "f", b"data")
    info = cache.save("f")
    assert (tmp_path / "shared-cache" / "files" / "md5" / info.md5[:2] / info.md5[2:]).is_file()


def test_gc_keeps_referenced_objects_and_dir_contents(tmp_path: Path, cache: Cache) -> None:
    files = make_dir(tmp_path)
    dir_info = cache.save("data")
    write_bytes(tmp_path / "keep.txt", b"keep")
    keep = cache.save("keep.txt")
    write_bytes(tmp_path / "junk1", b"junk1")
    write_bytes(tmp_path / "junk2", b"junk2")
    cache.save("junk1")
    cache.save("junk2")
    assert cache.gc({dir_info.md5, keep.md5}) == 2
    assert set(cache.all_objects()) == {dir_info.md5, keep.md5, *(md5(d) for d in files.values())}
    assert cache.gc({keep.md5}) == 4
    assert list(cache.all_objects()) == [keep.md5]


def test_ingest_hashes_and_caches_a_rewritten_model(tmp_path: Path, cache: Cache) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)
    write_bytes(tmp_path / "model.pt", data)
    info = cache.ingest("model.pt")
    assert info == HashInfo(md5(data), len(data), None, False)
    obj = cache.object_path(info.md5)
    assert obj.read_bytes() == data and not obj.stat().st_mode & stat.S_IWUSR
    assert not [p for p in cache.objects_dir.rglob("*.tmp")]  # no temporary file left behind
    reads = cache.hasher.stats.bytes_read
    assert cache.hasher.hash("model.pt").md5 == info.md5  # remembered: not read again
    assert cache.hasher.stats.bytes_read == reads
    inode = obj.stat().st_ino
    assert cache.ingest("model.pt") == info  # an object already present is kept as it is, not copied again
    assert obj.stat().st_ino == inode


def test_gc_removes_a_killed_writers_temp_beside_an_object_and_keeps_a_live_ones(
    tmp_path: Path, cache: Cache
) -> None:
    """Objects are written as ``.<name>.<host>-<pid>-<random>.tmp`` in their own folder, then renamed: a
    SIGKILL between the two leaves that file, which ``gc`` removes once its writer is gone."""
    write_bytes(tmp_path / "data" / "a.txt", b"a")
    info = cache.save("data")
    kept = cache.load_dir_manifest(info.md5)[0].md5
    folder = cache.object_path(kept).parent
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = folder / f".{kept[2:]}.{HOST}-{int(gone.stdout)}-0a1b2c.tmp"
    dead_dir = cache.object_path(info.md5).parent / f".{info.md5[2:]}.{HOST}-{int(gone.stdout)}-0a1b2d.tmp"
    live = folder / f".{kept[2:]}.{HOST}-{os.getpid()}-3d4e5f.tmp"
    for path in (dead, dead_dir, live):
        path.write_bytes(b"partial")
    assert kept in set(cache.all_objects())  # temp files are never listed as objects

    assert cache.gc({info.md5}) == 2
    assert not dead.exists() and not dead_dir.exists() and live.exists()
    assert set(cache.all_objects()) == {info.md5, kept}
