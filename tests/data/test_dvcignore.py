"""``.dvcignore``: ignored paths are left out of directory hashes and survive a checkout, as in DVC."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import DVC

from jupyter_exp.data.cache import Cache
from jupyter_exp.data.hashing import Hasher

IGNORE = "# scratch files\n*.tmp\nlogs/\n/data/private/\n"


def _tree(root: Path) -> None:
    for rel, text in {
        "data/a.csv": "1\n",
        "data/b.tmp": "scratch\n",
        "data/sub/c.tmp": "scratch\n",
        "data/logs/run.txt": "log\n",
        "data/private/key": "secret\n",
        "data/sub/d.csv": "2\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_ignored_files_do_not_change_the_directory_hash(tmp_path: Path) -> None:
    _tree(tmp_path)
    plain = Hasher(tmp_path).hash("data")
    (tmp_path / ".dvcignore").write_text(IGNORE)
    ignoring = Hasher(tmp_path)
    info, entries = ignoring.hash_tree("data")
    assert [e.relpath for e in entries] == ["a.csv", "sub/d.csv"]
    assert info.nfiles == 2 and info.md5 != plain.md5
    (tmp_path / "data" / "new.tmp").write_text("more scratch\n")
    assert Hasher(tmp_path).hash("data").md5 == info.md5


def test_checkout_keeps_ignored_files(tmp_path: Path) -> None:
    _tree(tmp_path)
    (tmp_path / ".dvcignore").write_text(IGNORE)
    cache = Cache(tmp_path)
    info = cache.save("data")
    (tmp_path / "data" / "a.csv").unlink()
    cache.checkout("data", info)
    assert (tmp_path / "data" / "a.csv").read_text() == "1\n"
    assert (tmp_path / "data" / "b.tmp").exists() and (tmp_path / "data" / "private" / "key").exists()


@pytest.mark.dvc
def test_same_directory_hash_as_dvc_with_a_dvcignore(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([str(DVC), "init", "-q"], cwd=tmp_path, check=True)
    _tree(tmp_path)
    (tmp_path / ".dvcignore").write_text(IGNORE)
    subprocess.run([str(DVC), "add", "-q", "data"], cwd=tmp_path, check=True)
    recorded = yaml.safe_load((tmp_path / "data.dvc").read_text())["outs"][0]
    ours = Hasher(tmp_path).hash("data")
    assert (ours.md5, ours.size, ours.nfiles) == (recorded["md5"], recorded["size"], recorded["nfiles"])
