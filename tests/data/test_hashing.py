"""Hashes of files and directories: the exact bytes and digests DVC 3 produces."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import md5, write_bytes

from jupyter_exp.data import hashing
from jupyter_exp.data.hashing import Hasher, HashInfo, TreeEntry, manifest_bytes
from jupyter_exp.errors import CacheError, YAMLFileError


def test_file_hash_is_plain_md5_of_bytes_without_dos2unix(tmp_path: Path) -> None:
    write_bytes(tmp_path / "crlf.txt", b"a\r\nb\r\n")
    with Hasher(tmp_path) as hasher:
        info = hasher.hash("crlf.txt")
    assert info == HashInfo(md5(b"a\r\nb\r\n"), 6, None)
    assert info.md5 != md5(b"a\nb\n")
    assert not info.isdir


def test_large_file_hashed_in_chunks_reports_progress(tmp_path: Path) -> None:
    data = os.urandom(hashing.CHUNK_SIZE * 2 + 12345)
    write_bytes(tmp_path / "big.bin", data)
    calls: list[tuple[int, int]] = []
    with Hasher(tmp_path) as hasher:
        info = hasher.hash("big.bin", progress=lambda done, total: calls.append((done, total)))
    assert info.md5 == md5(data) and info.size == len(data)
    assert calls[-1] == (len(data), len(data))
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert len(calls) >= 3


def test_executable_bit_is_recorded(tmp_path: Path) -> None:
    script = write_bytes(tmp_path / "run.sh", b"echo hi\n")
    script.chmod(0o755)
    with Hasher(tmp_path) as hasher:
        info = hasher.hash("run.sh")
    assert info.isexec
    assert info.to_lock_entry("run.sh") == {
        "path": "run.sh",
        "hash": "md5",
        "md5": md5(b"echo hi\n"),
        "size": 8,
        "isexec": True,
    }


def test_dir_manifest_bytes_and_hash(tmp_path: Path) -> None:
    write_bytes(tmp_path / "data" / "a-b", b"1")
    write_bytes(tmp_path / "data" / "a b" / "c", b"22")
    write_bytes(tmp_path / "data" / "ünï" / "é.txt", b"333")
    with Hasher(tmp_path) as hasher:
        info, entries = hasher.hash_tree("data")
    expected = (
        f'[{{"md5": "{md5(b"22")}", "relpath": "a b/c"}}, '
        f'{{"md5": "{md5(b"1")}", "relpath": "a-b"}}, '
        f'{{"md5": "{md5(b"333")}", "relpath": "\\u00fcn\\u00ef/\\u00e9.txt"}}]'
    ).encode()
    assert manifest_bytes(entries) == expected
    assert info == HashInfo(md5(expected) + ".dir", 6, 3)
    assert info.isdir
    assert [e.relpath for e in entries] == ["a b/c", "a-b", "ünï/é.txt"]


def test_dir_hash_skips_what_dvc_ignores_and_follows_file_symlinks(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_bytes(data / "keep.txt", b"k")
    write_bytes(data / ".git" / "HEAD", b"ref")
    write_bytes(data / "sub" / ".dvc" / "config", b"x")
    write_bytes(data / "sub" / ".hg" / "store", b"x")
    write_bytes(data / "sub" / ".git", b"gitdir: elsewhere")
    write_bytes(tmp_path / "outside" / "f", b"target")
    (data / "linked-dir").symlink_to(tmp_path / "outside")
    (data / "linked-file").symlink_to(tmp_path / "outside" / "f")
    with Hasher(tmp_path) as hasher:
        info, entries = hasher.hash_tree("data")
    assert entries == [TreeEntry("keep.txt", md5(b"k"), 1), TreeEntry("linked-file", md5(b"target"), 6)]
    assert info.nfiles == 2 and info.size == 7


def test_broken_symlink_in_dir_names_the_link(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dangling").symlink_to(tmp_path / "nowhere")
    with Hasher(tmp_path) as hasher, pytest.raises(CacheError, match="dangling"):
        hasher.hash("data")


def test_missing_path_is_a_user_error(tmp_path: Path) -> None:
    with Hasher(tmp_path) as hasher, pytest.raises(CacheError, match="'nope.csv'"):
        hasher.hash("nope.csv")


def test_threaded_hashing_matches_sequential(tmp_path: Path) -> None:
    for i in range(40):
        write_bytes(tmp_path / "data" / f"f{i:02}.bin", os.urandom(500_000 + i))
    with Hasher(tmp_path, jobs=4) as parallel:
        many = parallel.hash("data")
        assert parallel.stats.files_read == 40
    (tmp_path / ".dvc" / "tmp" / "jupyter-exp-state.sqlite").unlink()
    with Hasher(tmp_path, jobs=1) as sequential:
        assert sequential.hash("data") == many


def test_dir_progress_ends_at_total(tmp_path: Path) -> None:
    for i in range(5):
        write_bytes(tmp_path / "data" / f"{i}", b"x" * 100)
    calls: list[tuple[int, int]] = []
    with Hasher(tmp_path) as hasher:
        hasher.hash("data", progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (500, 500)


def test_empty_dir_hashes_like_an_empty_manifest(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with Hasher(tmp_path) as hasher:
        assert hasher.hash("empty") == HashInfo(md5(b"[]") + ".dir", 0, 0)


def test_lock_entry_round_trip_and_key_order() -> None:
    info = HashInfo("0" * 32 + ".dir", 10, 2)
    entry = info.to_lock_entry("data")
    assert list(entry) == ["path", "hash", "md5", "size", "nfiles"]
    assert HashInfo.from_lock_entry(entry) == info
    plain = HashInfo("a" * 32, 3).to_lock_entry("x.csv")
    assert list(plain) == ["path", "hash", "md5", "size"]
    assert HashInfo.from_lock_entry(json.loads(json.dumps(plain))) == HashInfo("a" * 32, 3)


def test_bad_lock_entry_names_the_path() -> None:
    with pytest.raises(YAMLFileError, match="'model.pkl'"):
        HashInfo.from_lock_entry({"path": "model.pkl", "md5": "not-a-hash", "size": 1})


def test_hash_many_keeps_order(tmp_path: Path) -> None:
    write_bytes(tmp_path / "a", b"a")
    write_bytes(tmp_path / "d" / "b", b"b")
    with Hasher(tmp_path) as hasher:
        infos = hasher.hash_many(["d", "a"])
    assert [i.isdir for i in infos] == [True, False]
    assert infos[1].md5 == md5(b"a")
