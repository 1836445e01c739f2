"""The magics through a real IPython ``InteractiveShell``: real Git repos (dulwich), real stage commands.

Loading, repository discovery, errors and ``%%stage`` here; experiments and background runs in
test_magics_runs.py; the shell and cells in shell_cells.py.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import shell_cells
import yaml
from IPython.core.magic import MAGIC_NO_VAR_EXPAND_ATTR
from shell_cells import commit_all, files_under, run

MAGICS = [
    "exp", "exp_run", "exp_show", "exp_diff", "exp_apply", "exp_branch", "exp_gc", "exp_sweep",
    "repro", "status", "metrics_diff", "params_diff", "plots_diff",
]


shell = shell_cells.shell  # fixtures: the session's IPython shell, PATH restored after each test
_restore_path = shell_cells.restore_path

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


def test_status_in_a_kernel_watches_a_big_tree_and_sees_each_change(shell: Any, git_repo: Path) -> None:
    """A kernel keeps the trees it hashes under inotify watch (as the daemon does): later statuses list
    only folders with events, and still report a change and its undoing."""
    from jupyter_exp.data import watch

    data = git_repo / "data"
    for folder in range(5):
        (data / f"d{folder}").mkdir(parents=True)
        for name in range(500):
            (data / f"d{folder}" / f"f{name:03d}").write_text(f"{folder} {name}\n")
    assert run(shell, "%exp add data").success
    for _ in range(3):
        assert "up to date" in run(shell, "%status").text
    watcher = watch.active()
    assert watcher is not None and watcher.watching(str(data))
    (data / "d3" / "f100").write_text("edited\n")
    assert "modified" in run(shell, "%status").text
    (data / "d3" / "f100").write_text("3 100\n")
    assert "up to date" in run(shell, "%status").text
