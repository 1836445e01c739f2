"""The state db: unchanged data is never re-read, changed data always is."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from jupyter_exp.data.hashing import Hasher
from jupyter_exp.data.state import STATE_FILE


def make_dataset(root: Path, count: int = 20) -> None:
    for i in range(count):
        path = root / "data" / f"part{i % 3}" / f"{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"row {i}\n" * (i + 1))


def test_unchanged_dir_is_not_reread_even_by_a_new_process(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    with Hasher(tmp_path) as first:
        info = first.hash("data")
        assert first.stats.files_read == 20
    with Hasher(tmp_path) as second:
        assert second.hash("data") == info
        assert second.stats.files_read == 0
        assert second.stats.bytes_read == 0
        assert second.stats.dir_state_hits == 1


def test_only_the_changed_file_is_reread(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    with Hasher(tmp_path) as hasher:
        before = hasher.hash("data")
        (tmp_path / "data" / "part1" / "4.txt").write_text("edited\n")
        after = hasher.hash("data")
        assert after != before
        assert hasher.stats.files_read == 21
        assert hasher.stats.file_state_hits == 19


def test_touching_mtime_forces_a_reread_with_same_result(tmp_path: Path) -> None:
    make_dataset(tmp_path, count=3)
    target = tmp_path / "data" / "part0" / "0.txt"
    with Hasher(tmp_path) as hasher:
        before = hasher.hash(target)
        st = target.stat()
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        assert hasher.hash(target) == before
        assert hasher.stats.files_read == 2


def test_added_and_removed_files_change_the_dir_hash(tmp_path: Path) -> None:
    make_dataset(tmp_path, count=4)
    with Hasher(tmp_path) as hasher:
        base = hasher.hash("data")
        (tmp_path / "data" / "new.txt").write_text("n")
        added = hasher.hash("data")
        (tmp_path / "data" / "new.txt").unlink()
        assert hasher.hash("data") == base
        assert added != base and added.nfiles == 5
        assert hasher.stats.files_read == 5


def test_moved_file_keeps_its_hash_without_reread(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"payload")
    with Hasher(tmp_path) as hasher:
        before = hasher.hash("a.bin")
        (tmp_path / "a.bin").rename(tmp_path / "b.bin")
        assert hasher.hash("b.bin") == before
        assert hasher.stats.files_read == 1


def test_state_file_is_our_own_in_dvc_tmp_and_uses_wal(tmp_path: Path) -> None:
    make_dataset(tmp_path, count=2)
    with Hasher(tmp_path) as hasher:
        hasher.hash_many(["data", "data/part0/0.txt"])
    db = tmp_path / ".dvc" / "tmp" / STATE_FILE
    assert db.is_file()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM dirs").fetchone()[0] == 1


def test_changed_helper(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("1")
    with Hasher(tmp_path) as hasher:
        info = hasher.hash("x")
        assert not hasher.changed("x", info)
        (tmp_path / "x").write_text("2")
        assert hasher.changed("x", info)
        (tmp_path / "x").unlink()
        assert hasher.changed("x", info)
