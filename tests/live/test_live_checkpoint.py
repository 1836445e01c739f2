"""The checkpoint signal: the training process waits while a real runner process commits."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from jupyter_exp.live import checkpoint_signal_path, make_checkpoint, pid_alive

TRAIN = textwrap.dedent(
    """
    import time
    from jupyter_exp.live import Live
    with Live("logs", html=False) as live:
        for epoch in range(3):
            live.log_metric("loss", 1.0 / (epoch + 1))
            open("model.txt", "w").write(f"weights after epoch {epoch}")
            live.next_step()
    """
)


def wait_for(path: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.005)


def test_no_runner_means_no_op(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DVC_CHECKPOINT", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert make_checkpoint() is False
    assert not (tmp_path / ".dvc").exists()


def test_training_blocks_until_the_runner_removes_the_signal(tmp_path: Path) -> None:
    (tmp_path / ".dvc" / "tmp").mkdir(parents=True)
    env = {**os.environ, "DVC_CHECKPOINT": "1", "DVC_ROOT": str(tmp_path), "DVCLIVE_RESUME": "false"}
    train = subprocess.Popen([sys.executable, "-c", TRAIN], cwd=tmp_path, env=env)
    signal = checkpoint_signal_path(tmp_path)
    assert signal == os.path.join(str(tmp_path), ".dvc", "tmp", "DVC_CHECKPOINT")
    try:
        for epoch in range(3):
            wait_for(signal)
            assert Path(signal).read_text() == str(train.pid)
            # What the runner would hash and commit is consistent: this epoch's row, summary and model.
            time.sleep(0.05)
            assert train.poll() is None, "training must wait for the runner"
            steps = [line.split("\t")[1] for line in (tmp_path / "logs/loss.tsv").read_text().splitlines()[1:]]
            assert steps == [str(s) for s in range(epoch + 1)]
            assert f'"step": {epoch}' in (tmp_path / "logs.json").read_text()
            assert (tmp_path / "model.txt").read_text() == f"weights after epoch {epoch}"
            os.remove(signal)
        assert train.wait(timeout=20) == 0
    finally:
        train.kill()


def test_a_dead_runner_does_not_hang_training(tmp_path: Path) -> None:
    runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    env = {
        **os.environ,
        "DVC_CHECKPOINT": "1",
        "DVC_ROOT": str(tmp_path),
        "DVC_CHECKPOINT_PARENT_PID": str(runner.pid),
    }
    code = "from jupyter_exp.live import make_checkpoint; print(make_checkpoint())"
    train = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
    signal = checkpoint_signal_path(tmp_path)
    wait_for(signal)
    time.sleep(0.05)
    assert train.poll() is None
    runner.kill()
    runner.wait()
    assert not pid_alive(runner.pid)
    out, _ = train.communicate(timeout=20)
    assert out.strip() == "False"
    assert not os.path.exists(signal)
