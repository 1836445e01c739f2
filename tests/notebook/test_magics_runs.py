"""The experiment magics and background runs through a real IPython ``InteractiveShell``: shortcuts, grids,
live plots, interrupts of stages and of checkpointed training."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import shell_cells
from dulwich.repo import Repo as DulwichRepo
from shell_cells import commit_all, run

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


shell = shell_cells.shell  # fixtures: the session's IPython shell, PATH restored after each test
_restore_path = shell_cells.restore_path

# -- experiments ---------------------------------------------------------------------------------------

TRAIN = """\
import json, yaml
params = yaml.safe_load(open("params.yaml"))
score = params["lr"] * 10
print("training with lr", params["lr"])
json.dump({"score": score}, open("metrics.json", "w"))
with open("loss.csv", "w") as f:
    f.write("step,loss\\n" + "".join(f"{i},{score / (i + 1)}\\n" for i in range(5)))
"""


@pytest.fixture
def trained(shell: Any, git_repo: Path) -> Path:
    (git_repo / "params.yaml").write_text("lr: 0.1\n")
    cell = run(shell, f"%%stage train -p lr -m metrics.json --plots loss.csv\n{TRAIN}")
    assert cell.success, cell.text
    cell = run(shell, "%repro")
    assert cell.success, cell.text
    commit_all(git_repo)
    return git_repo


def test_experiments_through_the_shortcuts(shell: Any, trained: Path) -> None:
    cell = run(shell, "%exp_run -S lr=0.3 -n fast")
    assert cell.success, cell.text
    assert "training with lr 0.3" in cell.stdout
    assert "Reproduced experiment(s): fast" in cell.stdout
    summary = "\n".join(o["text/plain"] for o in cell.outputs)
    assert "fast vs baseline" in summary and "score" in summary and "lr" in summary

    cell = run(shell, "%exp run -S lr=0.2 -n slow")
    assert cell.success, cell.text

    cell = run(shell, "%exp_show")
    assert cell.success, cell.text
    shown = cell.outputs[-1]
    assert "fast" in shown["text/plain"] and "slow" in shown["text/plain"]
    assert "<table" in shown["text/html"]

    cell = run(shell, "%exp_diff HEAD fast")
    assert cell.success and "score" in cell.stdout and "0.3" in cell.stdout

    for line in ("%params_diff HEAD fast", "%metrics_diff HEAD fast"):
        cell = run(shell, line)
        assert cell.success, cell.text
        assert "0.3" in cell.text or "3" in cell.text

    cell = run(shell, "%plots_diff HEAD fast")
    assert cell.success, cell.text
    assert "<iframe" in cell.outputs[-1]["text/html"] and "loss.csv" in cell.outputs[-1]["text/html"]

    cell = run(shell, "%exp_apply fast")
    assert cell.success, cell.text
    assert "lr: 0.3" in (trained / "params.yaml").read_text()

    cell = run(shell, "%exp_branch fast fast-branch")
    assert cell.success, cell.text
    assert b"refs/heads/fast-branch" in DulwichRepo(str(trained)).refs

    cell = run(shell, "%exp_gc -w -f")
    assert cell.success and "Removed" in cell.stdout


def test_grids_take_the_cli_words(shell: Any, trained: Path) -> None:
    cell = run(shell, "%exp_run --queue -S 'lr=range(1,4)' -n g")
    assert cell.success, cell.text
    assert "Queued 3 experiments" in cell.text
    cell = run(shell, "%exp_run -S 'lr=0.4,0.5'")
    assert cell.success, cell.text
    assert "training with lr 0.4" in cell.stdout and "training with lr 0.5" in cell.stdout
    assert "Ran 2 experiments" in cell.text
    shown = run(shell, "%exp_show --json").text
    assert shown.count('"queued"') >= 3 and '"lr": 0.5' in shown


def test_live_metrics_are_plotted_while_training(shell: Any, git_repo: Path) -> None:
    train = (
        "from jupyter_exp.live import Live\n"
        "with Live('logs') as live:\n"
        "    for step in range(4):\n"
        "        live.log_metric('loss', 1.0 / (step + 1))\n"
        "        live.next_step()\n"
    )
    cell = run(shell, f"%%stage train --live logs\n{train}")
    assert cell.success, cell.text
    commit_all(git_repo)
    cell = run(shell, "%exp_run")
    assert cell.success, cell.text
    plots = [o for o in cell.outputs if WIDGET_VIEW in o]
    assert len(plots) >= 1
    final = plots[-1]  # the refreshed display holds the final curves
    assert "loss: 0.25 (step 3)" in final["text/plain"]
    assert "<svg" in final["text/html"]

    cell = run(shell, "%repro")  # nothing to run: no plot is left in the cell
    assert cell.success
    assert cell.outputs and WIDGET_VIEW not in cell.outputs[-1] and cell.outputs[-1]["text/plain"] == ""


# -- background runs and interrupts ---------------------------------------------------------------------

SLOW = """\
import sys, time
for i in range({n}):
    print("tick", i, flush=True)
    time.sleep({delay})
open("done.txt", "w").write("ok")
"""


def test_background_run_keeps_the_kernel_usable(shell: Any, git_repo: Path) -> None:
    (git_repo / "params.yaml").write_text("n: 1\n")
    gate = git_repo.with_name("gate")  # the stage cannot finish until the test opens it
    wait = f"import os\nwhile not os.path.exists({str(gate)!r}): time.sleep(0.02)\n"
    body = SLOW.format(n=6, delay=0.1).replace('open("done.txt"', wait + 'open("done.txt"')
    cell = run(shell, "%%stage slow -p n -o done.txt\n" + body)
    assert cell.success, cell.text
    commit_all(git_repo)
    try:
        cell = run(shell, "handle = %exp_run --bg -S n=2 -n background")  # returns with the stage blocked
        assert cell.success, cell.text
        handle = shell.user_ns["handle"]
        assert not handle.done
        assert run(shell, "21 * 2").success  # the kernel runs other cells meanwhile
        busy = run(shell, "%repro")
        assert not busy.success and "is still running in the background" in busy.text
    finally:
        gate.touch()
    result = handle.wait(timeout=30)
    assert handle.done and result.name == "background" and handle.result is result
    assert "background: done" in repr(handle)
    pane = cell.outputs[0]["text/plain"]  # the pane's first version; updates go to its display id
    assert pane.startswith("Starting in the background")
    assert (git_repo / "done.txt").read_text() == "ok"
    assert "tick 1" in handle.output and "Reproduced experiment(s): background" in handle.output
    assert "background vs baseline" in handle.output and "n" in handle.output


def test_background_run_can_be_interrupted(shell: Any, git_repo: Path) -> None:
    # 30 s of work: ended by the Ctrl-C, or at worst by the SIGKILL that follows it after 10 s
    cell = run(shell, "%%stage slow -o done.txt\n" + SLOW.format(n=600, delay=0.05))
    assert cell.success, cell.text
    cell = run(shell, "handle = %repro --bg")
    handle = shell.user_ns["handle"]
    time.sleep(0.5)
    handle.interrupt()
    with pytest.raises(Exception, match="Interrupted: completed stages and checkpoints are saved"):
        handle.wait(timeout=15)
    assert handle.interrupted and "interrupted" in repr(handle)
    assert not (git_repo / "done.txt").exists()


def test_kernel_interrupt_stops_the_stage_cleanly(shell: Any, git_repo: Path) -> None:
    cell = run(shell, "%%stage slow -o done.txt\n" + SLOW.format(n=200, delay=0.05))
    assert cell.success, cell.text
    timer = threading.Timer(0.8, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    cell = run(shell, "%repro")
    timer.join()
    assert not cell.success
    assert "Interrupted: completed stages and checkpoints are saved." in cell.text
    assert "tick 0" in cell.stdout and "Traceback" not in cell.text
    assert not (git_repo / "done.txt").exists()


CHECKPOINTED = """\
import os, time
from jupyter_exp import make_checkpoint
epoch = int(open("model.txt").read()) if os.path.exists("model.txt") else 0
while epoch < 100:
    epoch += 1
    open("model.txt", "w").write(str(epoch))
    print("epoch", epoch, flush=True)
    make_checkpoint()
    time.sleep(0.1)
"""


def test_interrupted_checkpoint_run_keeps_completed_checkpoints(shell: Any, git_repo: Path) -> None:
    cell = run(shell, "%%stage train -c model.txt\n" + CHECKPOINTED)
    assert cell.success, cell.text
    commit_all(git_repo)
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    cell = run(shell, "%exp_run -n ckpt")
    timer.join()
    assert not cell.success  # "Run all" stops here
    assert "Interrupted: 'ckpt' keeps the" in cell.text and "completed checkpoint(s)" in cell.text
    assert "Traceback" not in cell.text
    kept = int(cell.text.split("keeps the ")[1].split()[0])
    assert kept >= 2
    shown = run(shell, "%exp_show")
    assert shown.success and "ckpt" in shown.outputs[-1]["text/plain"]
