"""A tree under inotify watch (the daemon's ``Watcher``) hashes exactly as one listed afresh, while only
the folders that had an event are listed again.

These tests run the watcher in the test process, which then both holds the inotify descriptor and
hashes (the daemon holds it and its forked commands hash; ``tests/test_daemon.py`` runs that end to end).
"""

from __future__ import annotations

import os
import shutil
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_incremental_dir_hash import EDITS, from_scratch, tricky_tree

from jupyter_exp.data import watch
from jupyter_exp.data.hashing import Hasher, HashInfo

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")


@pytest.fixture
def watcher(monkeypatch: pytest.MonkeyPatch) -> Iterator[watch.Watcher]:
    monkeypatch.setattr(watch, "WATCH_MIN_FILES", 0)  # the test trees are small
    started = watch.start()
    assert started is not None
    yield started  # closed by the suite's no_watcher_left


def folders(root: Path) -> int:
    return sum(1 for _ in os.walk(root / "data"))


def hashed(root: Path) -> tuple[HashInfo, int, int]:
    """The tree's hash, how many folders were restored unlisted, how many files were read."""
    with Hasher(root) as hasher:
        info = hasher.hash("data")
        return info, hasher.stats.folders_restored, hasher.stats.files_read


def warmed(root: Path) -> HashInfo:
    """Hashed until the watcher vouches for every folder (listed once before the watch, once under it)."""
    hashed(root)
    hashed(root)
    info, restored, _ = hashed(root)
    assert restored == folders(root)
    return info


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_watched_tree_after_any_change_hashes_as_from_scratch_and_lists_only_what_changed(
    tmp_path: Path, watcher: watch.Watcher, edit: str
) -> None:
    root = tmp_path / "repo"
    tricky_tree(root)
    before = warmed(root)
    change, reads = EDITS[edit]
    change(root / "data")
    after, restored, read = hashed(root)
    assert after != before and read == reads
    assert after == from_scratch(root, tmp_path)
    assert 0 < restored < folders(root)  # the untouched folders came from the summary
    assert hashed(root)[0] == after


def test_moved_and_deleted_folders_are_listed_again(tmp_path: Path, watcher: watch.Watcher) -> None:
    root = tmp_path / "repo"
    tricky_tree(root)
    warmed(root)
    (root / "data" / "q").rename(root / "data" / "leaf0" / "q")  # a watched folder moves: paths change
    after, restored, _ = hashed(root)
    assert after == from_scratch(root, tmp_path) and restored == 0
    (root / "data" / "leaf0" / "q" / "r" / "s" / "t").write_text("edited under its new path\n")
    hashed(root)  # lists it all and asks for the watch again
    assert hashed(root)[0] == from_scratch(root, tmp_path)
    assert warmed(root) == from_scratch(root, tmp_path)
    shutil.rmtree(root / "data" / "leaf1")
    (root / "data" / "leaf1").mkdir()  # the same path, a new folder
    (root / "data" / "leaf1" / "f001.bin").write_text("new\n")
    assert hashed(root)[0] == from_scratch(root, tmp_path)


def test_writes_inotify_cannot_see_in_a_folder_are_found(tmp_path: Path, watcher: watch.Watcher) -> None:
    """A file with another hard link, or a symlink, can change through a path outside the watched folder."""
    root = tmp_path / "repo"
    tricky_tree(root)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.link(root / "data" / "leaf0" / "f000.bin", outside / "same-inode")
    (outside / "target").write_text("target\n")
    (root / "data" / "leaf1" / "link").symlink_to(outside / "target")
    hashed(root), hashed(root)
    before, restored, _ = hashed(root)
    assert restored == folders(root) - 2  # leaf0 and leaf1 are listed every time
    with open(outside / "same-inode", "a") as other_path:
        other_path.write("appended through the other link\n")
    after_link = hashed(root)[0]
    assert after_link != before and after_link == from_scratch(root, tmp_path)
    (outside / "target").write_text("the target changed\n")
    after_symlink = hashed(root)[0]
    assert after_symlink != after_link and after_symlink == from_scratch(root, tmp_path)


def test_lost_events_or_another_daemon_mean_nothing_is_trusted(tmp_path: Path, watcher: watch.Watcher) -> None:
    root = tmp_path / "repo"
    tricky_tree(root)
    warmed(root)
    watcher.clock += 1
    watcher.take(struct.pack("iIII", -1, watch.IN_Q_OVERFLOW, 0, 0))  # the kernel's queue overflowed
    assert not watcher.watching(str(root / "data")) and not watcher.wds
    assert hashed(root)[1] == 0
    assert warmed(root) == from_scratch(root, tmp_path)
    os.close(watcher.fd)
    successor = watch.start()  # a restarted daemon: the stored summary is not its own
    assert successor is not None and successor.id != watcher.id
    hashed(root)
    assert successor.watching(str(root / "data"))
    assert hashed(root)[1] == 0
    assert hashed(root)[1] == folders(root)


def test_a_summary_whose_rows_were_forgotten_lists_those_folders(tmp_path: Path, watcher: watch.Watcher) -> None:
    root = tmp_path / "repo"
    tricky_tree(root)
    before = warmed(root)
    with Hasher(root) as hasher:  # the state db lost the remembered rows (and directory hashes)
        hasher.state._conn.execute("DELETE FROM listings")
        hasher.state._conn.execute("DELETE FROM dirs")
    assert hashed(root)[0] == before == from_scratch(root, tmp_path)
