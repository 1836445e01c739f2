"""A queued experiment while a worker runs it: ``exp show`` marks its row running with the metrics its
live logger wrote so far, and the row becomes the finished experiment. The stage waits on gate files the
test creates, so each step is seen without timing anything."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from jupyter_exp.experiments.table import ExpRow
from jupyter_exp.repo import Repo

from .conftest import git

GATED_TRAIN = """\
import os, time, yaml
from pathlib import Path
from jupyter_exp.live import Live
gate = Path(os.environ["JX_TEST_GATE"])
lr = yaml.safe_load(open("params.yaml"))["train"]["lr"]
with Live("logs", html=False) as live:
    for step in range(3):
        live.log_metric("score", round(lr + step / 10, 4))
        live.next_step()
        while not (gate / str(step)).exists():
            time.sleep(0.05)
"""
WAIT_S = 60.0


def wait_for(what: str, found: Callable[[], ExpRow | None]) -> ExpRow:
    """Poll ``found`` until it returns a row (a worker process is starting and training meanwhile)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        row = found()
        if row is not None:
            return row
        time.sleep(0.1)
    pytest.fail(f"never saw {what}")


def score(row: ExpRow) -> object:
    return row.metrics.get("logs.json", {}).get("score")


def test_a_running_entry_shows_its_live_metrics_then_becomes_the_experiment(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    monkeypatch.setenv("JX_TEST_GATE", str(gate))
    (git_repo / "train.py").write_text(GATED_TRAIN)
    (git_repo / "params.yaml").write_text("train:\n  lr: 0.5\n")
    repo = Repo(git_repo)
    repo.add_stage(
        "train",
        {
            "cmd": f"{sys.executable} train.py",
            "deps": ["train.py"],
            "params": ["train.lr"],
            "live": {"logs": {"summary": True, "html": False}},
        },
    )
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "gated training")
    repo.experiments.run(["train.lr=0.2"], name="live", queue=True)
    assert repo.experiments.running() == []

    def live_row(value: float) -> Callable[[], ExpRow | None]:
        def find() -> ExpRow | None:
            rows = [r for r in Repo(git_repo).experiments.show().rows if r.name == "live" and r.running]
            return rows[0] if rows and score(rows[0]) == value else None

        return find

    results: list[object] = []
    runner = threading.Thread(target=lambda: results.extend(repo.experiments.run_all()))
    runner.start()
    try:
        row = wait_for("the running row at step 0", live_row(0.2))
        assert (row.kind, row.label) == ("queued", "*live (running)")
        assert row.params["params.yaml"]["train.lr"] == 0.2
        assert [entry.label for entry in repo.experiments.running()] == ["live"]
        (alone,) = repo.experiments.show_running().rows  # the same row, without the rest of the table
        assert (alone.rev, alone.label, score(alone)) == (row.rev, row.label, 0.2)
        (gate / "0").touch()
        wait_for("the running row at step 1", live_row(0.3))
    finally:
        for step in range(3):
            (gate / str(step)).touch()
        runner.join(WAIT_S)
    assert not runner.is_alive() and [getattr(r, "error", None) for r in results] == [None]
    rows = Repo(git_repo).experiments.show().rows
    assert not [r for r in rows if r.running or r.kind == "queued"]
    (done,) = [r for r in rows if r.name == "live"]
    assert (done.kind, score(done)) == ("experiment", 0.4)
    assert repo.experiments.running() == [] and repo.experiments.show_running().rows == []
