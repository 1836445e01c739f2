"""Interrupted writers: a SIGKILLed ``add`` of a large file leaves its partial object only in the cache's tmp
folder, where the next writer (or ``gc``) removes it (small objects are written beside their final name, and
``gc`` removes those: ``tests/data/test_cache.py``); an interrupted stage never deletes a file Git tracks."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import commit_files, git, ok

from hostile import refused

CLI = [sys.executable, "-m", "jupyter_exp.cli"]


def partials(root: Path) -> list[Path]:
    tmp = root / ".dvc" / "cache" / "tmp"
    return sorted(tmp.iterdir()) if tmp.is_dir() else []


def kill_while_copying(root: Path, name: str) -> bool:
    """Start ``add name`` and SIGKILL it once its partial object appears; False if it finished first."""
    proc = subprocess.Popen([*CLI, "add", name], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while proc.poll() is None:
            if partials(root):
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.0005)
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_killed_add_leaves_a_partial_that_the_next_writer_removes(git_repo: Path, run_cli) -> None:
    data = os.urandom(1 << 20) * 64  # 64 MB: copying takes long enough to be caught
    (git_repo / "big.bin").write_bytes(data)
    for _ in range(10):
        if kill_while_copying(git_repo, "big.bin"):
            break
        shutil.rmtree(git_repo / ".dvc" / "cache" / "files", ignore_errors=True)
        (git_repo / "big.bin.dvc").unlink(missing_ok=True)
    else:
        raise AssertionError("add finished before it could be killed ten times in a row")
    assert partials(git_repo), "the partial object is in the cache's tmp folder"
    assert not list((git_repo / ".dvc" / "cache").glob("files/md5/*/.*.tmp")), "no partial beside the objects"
    assert (git_repo / "big.bin").read_bytes() == data
    (git_repo / "small.txt").write_text("next writer\n")
    ok(run_cli("add", "small.txt"))
    assert partials(git_repo) == []
    ok(run_cli("add", "big.bin"))
    assert (git_repo / "big.bin").read_bytes() == data
    assert git(git_repo, "fsck", "--no-progress") == ""


def test_gc_removes_partials_of_dead_writers_but_not_of_live_ones(git_repo: Path, run_cli) -> None:
    import socket

    host = socket.gethostname().replace("-", "_")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    tmp = git_repo / ".dvc" / "cache" / "tmp"
    tmp.mkdir(parents=True)
    (tmp / f"{host}-{dead.pid}-abc.tmp").write_bytes(b"partial")
    live = tmp / f"{host}-{os.getpid()}-def.tmp"
    live.write_bytes(b"being written")
    other_host = tmp / "elsewhere-1-ghi.tmp"
    other_host.write_bytes(b"a shared cache's writer on another machine")
    ok(run_cli("gc", "-w", "-f"))
    assert sorted(p.name for p in tmp.iterdir()) == sorted([live.name, other_host.name])
    os.utime(other_host, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    ok(run_cli("gc", "-w", "-f"))
    assert [p.name for p in tmp.iterdir()] == [live.name]


def test_a_repro_with_nothing_to_do_removes_a_killed_runs_half_written_lock(git_repo: Path, run_cli) -> None:
    """Killed between writing the new dvc.lock and its rename, a run leaves ``.dvc.lock.<writer>.tmp`` in the
    user's folder; the next repro removes it even when everything is up to date (it writes no lock)."""
    from jupyter_exp.fsutil import HOST

    commit_files(git_repo, {"dvc.yaml": "stages:\n  a:\n    cmd: echo a > a.txt\n    outs: [a.txt]\n"}, "pipeline")
    ok(run_cli("repro"))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    half = git_repo / f".dvc.lock.{HOST}-{dead.pid}-0123456789ab.tmp"
    half.write_text("schema: '2.0'\nsta")
    live = git_repo / f".dvc.lock.{HOST}-{os.getpid()}-ba9876543210.tmp"
    live.write_text("being written")
    assert "skipping" in ok(run_cli("repro"))
    assert not half.exists() and live.exists()


def test_an_interrupted_stage_keeps_a_git_tracked_uncached_output(git_repo: Path, run_cli) -> None:
    commit_files(
        git_repo,
        {
            "dvc.yaml": "stages:\n  train:\n    cmd: python3 -c 'import os; os.kill(os.getpid(), 9)'\n"
            "    metrics:\n      - metrics.json:\n          cache: false\n    outs: [model.pkl]\n",
            "metrics.json": '{"acc": 0.9}\n',
        },
        "metrics tracked by git",
    )
    (git_repo / "model.pkl").write_text("old model")
    refused(run_cli("repro"), "train")
    assert (git_repo / "metrics.json").read_text() == '{"acc": 0.9}\n'
    assert not (git_repo / "model.pkl").exists(), "an output Git does not track is removed before the run, as in DVC"


def test_a_project_without_git_is_refused(tmp_path: Path, run_cli) -> None:
    project = tmp_path / "copied"
    (project / ".dvc").mkdir(parents=True)
    (project / ".dvc" / "config").write_text("")
    (project / "dvc.yaml").write_text("stages:\n  s: {cmd: touch ran}\n")
    for command in (["repro"], ["status"], ["exp", "run"], ["exp", "show"]):
        refused(run_cli(*command, cwd=project), "not inside a Git repository", "git init")
    assert not (project / "ran").exists()
