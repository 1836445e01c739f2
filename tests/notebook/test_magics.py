"""The magics through a real IPython ``InteractiveShell``: real Git repos (dulwich), real stage commands."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from dulwich import porcelain
from dulwich.repo import Repo as DulwichRepo
from IPython.core.magic import MAGIC_NO_VAR_EXPAND_ATTR

MAGICS = [
    "exp", "exp_run", "exp_show", "exp_diff", "exp_apply", "exp_branch", "exp_gc", "exp_sweep",
    "repro", "status", "metrics_diff", "params_diff", "plots_diff",
]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="session")
def shell() -> Any:
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "jupyter_exp")
    return ip


@dataclass
class Cell:
    success: bool
    error: BaseException | None
    stdout: str
    stderr: str
    outputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Everything a reader of the cell sees as text."""
        shown = [o.get("text/plain", "") for o in self.outputs]
        return "\n".join([self.stdout, self.stderr, *shown])


def run(shell: Any, source: str) -> Cell:
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        result = shell.run_cell(source)
    return Cell(
        result.success,
        result.error_in_exec or result.error_before_exec,
        captured.stdout,
        captured.stderr,
        [o.data for o in captured.outputs],
    )


def commit_all(root: Path, message: str = "baseline") -> None:
    porcelain.add(str(root))
    porcelain.commit(str(root), message=message.encode(), author=b"T <t@e.com>", committer=b"T <t@e.com>")


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if ".git" not in p.parts}


# -- loading ---------------------------------------------------------------------------------------------


def test_load_registers_every_magic_without_side_effects(shell: Any, git_only: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import jupyter_exp

    def no_network(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("loading the extension touched the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    before = files_under(git_only)
    jupyter_exp.load_ipython_extension(shell)
    assert files_under(git_only) == before
    assert not (git_only / ".dvc").exists()
    for name in MAGICS:
        magic = shell.find_line_magic(name)
        assert magic is not None, name
        assert getattr(magic, MAGIC_NO_VAR_EXPAND_ATTR, False), f"%{name} lets IPython expand $ and {{}}"
    assert getattr(shell.find_cell_magic("stage"), MAGIC_NO_VAR_EXPAND_ATTR, False)


def test_template_variables_reach_the_command_table_intact(shell: Any, git_repo: Path) -> None:
    shell.user_ns["lr"] = 0.1
    shell.user_ns["item"] = "boom"
    (git_repo / "params.yaml").write_text("lr: 0.5\n")
    cell = run(shell, "%exp stage add -n train -p lr python train.py --lr ${lr} --tag {item}")
    assert cell.success, cell.text
    stage = yaml.safe_load((git_repo / "dvc.yaml").read_text())["stages"]["train"]
    assert stage["cmd"] == "python train.py --lr ${lr} --tag {item}"
    cell = run(shell, "%%stage build -d data/${lr}.csv\nprint('hi')\n")
    assert cell.success, cell.text
    assert "data/${lr}.csv" in (git_repo / "dvc.yaml").read_text()
    assert "data/0.5.csv" in cell.text  # the table shows the resolved stage


# -- repository discovery ------------------------------------------------------------------------------


def test_reading_magics_never_create_dvc(shell: Any, git_only: Path) -> None:
    for line in ("%status", "%exp_show", "%exp stage list"):
        cell = run(shell, line)
        assert not cell.success
        assert "has no '.dvc/' directory: run `%exp init` there first" in cell.text
    assert not (git_only / ".dvc").exists()


def test_first_writing_magic_initialises_and_says_so_once(shell: Any, git_only: Path) -> None:
    cell = run(shell, "%%stage hello\nprint('hello')\n")
    assert cell.success, cell.text
    assert cell.stdout.count("Initialized jupyter-exp") == 1
    assert (git_only / ".dvc" / "config").is_file()
    cell = run(shell, "%%stage hello\nprint('hello again')\n")
    assert "Initialized" not in cell.text


def test_outside_git_says_how_to_fix(shell: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cell = run(shell, "%repro")
    assert not cell.success
    assert "is not inside a Git repository: run `git init`" in cell.text
    assert "Traceback" not in cell.text
    assert list(tmp_path.iterdir()) == []


# -- errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("%exp frobnicate", "invalid choice: 'frobnicate'"),
        ("%exp_run --no-such-flag", "unrecognized arguments: --no-such-flag"),
        ("%exp show --bg", "--bg works with `%exp run` and `%exp repro` only"),
        ("%exp_apply exp-nope", "exp-nope"),
        ("%%stage\nprint(1)\n", "usage: %%stage NAME"),
        ("%%stage bad\nthis is: [not, valid\n", "neither a YAML stage"),
    ],
)
def test_user_errors_are_one_message_without_traceback(shell: Any, git_repo: Path, source: str, message: str) -> None:
    commit_all(git_repo)
    cell = run(shell, source)
    assert not cell.success
    assert message in cell.text
    assert "ERROR" in cell.text
    assert "Traceback" not in cell.text and 'File "' not in cell.text


def test_failing_stage_is_one_message(shell: Any, git_repo: Path) -> None:
    run(shell, "%exp stage add -n broken sh -c 'echo about to fail; exit 3'")
    cell = run(shell, "%repro")
    assert not cell.success
    assert "about to fail" in cell.stdout  # the stage's own output was streamed first
    assert "exited with status 3" in cell.text
    assert "Traceback" not in cell.text


def test_help_is_printed(shell: Any, git_repo: Path) -> None:
    cell = run(shell, "%exp")
    assert cell.success and "usage: %exp" in cell.stdout
    cell = run(shell, "%exp_run --help")
    assert cell.success and "--set-param" in cell.stdout


# -- %%stage -------------------------------------------------------------------------------------------

DVC_YAML = """\
# the project's pipeline
vars:
  - regions: [us, uk]
stages:
  prepare:  # first step
    cmd: mkdir -p data && echo raw > data/raw.txt
    outs:
      - data/raw.txt
"""

FOREACH_CELL = """\
# one build per region
foreach: ${regions}
do:
  cmd: mkdir -p out && cat data/raw.txt > out/${item}.txt  # per region
  deps:
    - data/raw.txt
  outs:
    - out/${item}.txt
"""


def test_yaml_cell_writes_a_templated_foreach_stage(shell: Any, git_repo: Path) -> None:
    (git_repo / "dvc.yaml").write_text(DVC_YAML)
    cell = run(shell, "%%stage build\n" + FOREACH_CELL)
    assert cell.success, cell.text
    assert "Added stage 'build' in 'dvc.yaml'" in cell.stdout
    text = (git_repo / "dvc.yaml").read_text()
    assert text.startswith(DVC_YAML)  # comments, order and the first stage untouched
    assert "foreach: ${regions}" in text and "out/${item}.txt" in text
    assert "# per region" in text and "# one build per region" in text
    table = cell.outputs[-1]
    assert "build@us" in table["text/plain"] and "build@uk" in table["text/plain"]
    assert "out/us.txt" in table["text/plain"]  # resolved, not the template
    assert "<table" in table["text/html"]

    cell = run(shell, "%%stage build\n" + FOREACH_CELL.replace("cat data/raw.txt", "tr a-z A-Z < data/raw.txt"))
    assert cell.success, cell.text
    assert "Replaced stage 'build'" in cell.stdout
    text = (git_repo / "dvc.yaml").read_text()
    assert text.count("build:") == 1 and "tr a-z A-Z" in text and "cat data/raw.txt" not in text
    assert text.startswith(DVC_YAML)

    cell = run(shell, "%repro")
    assert cell.success, cell.text
    assert (git_repo / "out" / "uk.txt").read_text() == "RAW\n"
    cell = run(shell, "%status")
    assert "Data and pipelines are up to date." in cell.stdout


def test_yaml_cell_takes_the_line_options(shell: Any, git_repo: Path) -> None:
    cell = run(shell, "%%stage build -d extra.txt\nforeach: [a, b]\ndo:\n  cmd: echo ${item}\n")
    assert cell.success, cell.text
    stage = yaml.safe_load((git_repo / "dvc.yaml").read_text())["stages"]["build"]
    assert stage["do"] == {"cmd": "echo ${item}", "deps": ["extra.txt"]}


def test_invalid_stage_leaves_dvc_yaml_as_it_was(shell: Any, git_repo: Path) -> None:
    (git_repo / "dvc.yaml").write_text(DVC_YAML)
    cell = run(shell, "%%stage clash\nforeach: [a, b]\ndo:\n  cmd: echo ${item} > same.txt\n  outs: [same.txt]\n")
    assert not cell.success
    assert "same.txt" in cell.text and "Traceback" not in cell.text
    assert (git_repo / "dvc.yaml").read_text() == DVC_YAML


def test_python_cell_becomes_a_script_stage(shell: Any, git_repo: Path) -> None:
    (git_repo / "data.txt").write_text("3\n")
    body = "n = int(open('data.txt').read())\nopen('squares.txt', 'w').write(str(n * n))\nprint('squared', n)\n"
    cell = run(shell, f"%%stage square -d data.txt -o squares.txt\n{body}")
    assert cell.success, cell.text
    assert (git_repo / "stages" / "square.py").read_text() == body
    stage = yaml.safe_load((git_repo / "dvc.yaml").read_text())["stages"]["square"]
    assert stage == {"cmd": "python stages/square.py", "deps": ["stages/square.py", "data.txt"], "outs": ["squares.txt"]}
    assert "square" in cell.outputs[-1]["text/plain"]

    cell = run(shell, "%repro")
    assert cell.success, cell.text
    assert "squared 3" in cell.stdout  # streamed from the stage
    assert (git_repo / "squares.txt").read_text() == "9"

    cell = run(shell, f"%%stage square -d data.txt -o squares.txt\n{body.replace('n * n', 'n * n * n')}")
    assert cell.success, cell.text
    assert "changed deps: stages/square.py (modified)" in cell.outputs[-1]["text/plain"]
    assert yaml.safe_load((git_repo / "dvc.yaml").read_text())["stages"].keys() == {"square"}
    run(shell, "%repro")
    assert (git_repo / "squares.txt").read_text() == "27"


def test_notebook_cell_becomes_a_papermill_stage(shell: Any, git_repo: Path) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell("lr = 0.01")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, nbformat.v4.new_code_cell("print('notebook lr', lr)")]
    nbformat.write(notebook, git_repo / "train.ipynb")
    (git_repo / "params.yaml").write_text("lr: 0.2\n")
    cell = run(shell, "%%stage train --notebook train.ipynb -p lr\n# the notebook is the stage")
    assert cell.success, cell.text
    stage = yaml.safe_load((git_repo / "dvc.yaml").read_text())["stages"]["train"]
    assert stage["cmd"].startswith("papermill train.ipynb train.out.ipynb ") and stage["deps"] == ["train.ipynb"]
    cell = run(shell, "%repro")
    assert cell.success, cell.text
    assert "notebook lr 0.2" in cell.stdout and (git_repo / "train.out.ipynb").is_file()
    cell = run(shell, "%%stage train --notebook train.ipynb\nprint('a body')")
    assert not cell.success and "comments only" in cell.text
    cell = run(shell, "%stage train --notebook train.ipynb -p lr")
    assert cell.success and "Replaced stage 'train'" in cell.stdout


def test_scripts_folder_is_configurable(shell: Any, git_repo: Path) -> None:
    cell = run(shell, '%config ExpMagics.stages_dir = "src/steps"')
    assert cell.success, cell.text
    try:
        cell = run(shell, "%%stage hello\nprint('hello')\n")
        assert cell.success, cell.text
        assert (git_repo / "src" / "steps" / "hello.py").is_file()
        assert yaml.safe_load((git_repo / "dvc.yaml").read_text())["stages"]["hello"]["cmd"] == "python src/steps/hello.py"
    finally:
        run(shell, '%config ExpMagics.stages_dir = "stages"')


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
    cell = run(shell, "%%stage slow -p n -o done.txt\n" + SLOW.format(n=6, delay=0.1))
    assert cell.success, cell.text
    commit_all(git_repo)
    started = time.monotonic()
    cell = run(shell, "handle = %exp_run --bg -S n=2 -n background")
    assert cell.success, cell.text
    assert time.monotonic() - started < 0.5  # returned at once
    handle = shell.user_ns["handle"]
    assert not handle.done
    assert run(shell, "21 * 2").success  # the kernel runs other cells meanwhile
    busy = run(shell, "%repro")
    assert not busy.success and "is still running in the background" in busy.text
    result = handle.wait(timeout=30)
    assert handle.done and result.name == "background" and handle.result is result
    assert "background: done" in repr(handle)
    pane = cell.outputs[0]["text/plain"]  # the pane's first version; updates go to its display id
    assert pane.startswith("Starting in the background")
    assert (git_repo / "done.txt").read_text() == "ok"
    assert "tick 1" in handle.output and "Reproduced experiment(s): background" in handle.output
    assert "background vs baseline" in handle.output and "n" in handle.output


def test_background_run_can_be_interrupted(shell: Any, git_repo: Path) -> None:
    cell = run(shell, "%%stage slow -o done.txt\n" + SLOW.format(n=200, delay=0.05))
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
    started = time.monotonic()
    cell = run(shell, "%repro")
    timer.join()
    assert time.monotonic() - started < 8
    assert not cell.success
    assert "Interrupted: completed stages and checkpoints are saved." in cell.text
    assert "tick 0" in cell.stdout and "Traceback" not in cell.text
    assert not (git_repo / "done.txt").exists()


@pytest.fixture(autouse=True)
def _restore_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run magics put the kernel's interpreter first on PATH for stage commands; undo it after each test."""
    monkeypatch.setenv("PATH", os.environ.get("PATH", ""))


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
