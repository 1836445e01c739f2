"""A writer killed between its write and its rename leaves a temp file: the next write of that file removes it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from jupyter_exp.fsutil import atomic_write_text, tmp_name

LEAVE_TMP = "import sys; from pathlib import Path; from jupyter_exp.fsutil import tmp_name; p = Path(sys.argv[1]); "
LEAVE_TMP += "(p.parent / tmp_name(p.name)).write_text('half')"


def test_next_write_removes_a_dead_writers_temp_file_and_keeps_a_live_ones(tmp_path: Path) -> None:
    lock = tmp_path / "dvc.lock"
    subprocess.run([sys.executable, "-c", LEAVE_TMP, str(lock)], check=True)  # that process is gone now
    dead = [p.name for p in tmp_path.glob(".dvc.lock.*.tmp")]
    live = tmp_path / tmp_name("dvc.lock")  # this process: still able to finish its write
    live.write_text("mine")
    other = tmp_path / tmp_name("dvc.lock.bak")  # another file's temp is none of this write's business
    other.write_text("other")

    atomic_write_text(lock, "schema: '2.0'\n")

    assert len(dead) == 1
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["dvc.lock", live.name, other.name])
    assert lock.read_text() == "schema: '2.0'\n"
