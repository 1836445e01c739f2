"""A notebook as a stage: papermill on a real kernel, code-only hashing, experiments, live checkpoints, DVC 3."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from conftest import DVC, git, run_dvc

from jupyter_exp.errors import JupyterExpError, ReproductionError
from jupyter_exp.repo import Repo

pytestmark = pytest.mark.notebook

TRAIN = """\
import json
from jupyter_exp.live import Live
print("training with", lr, epochs, repr(optimizer), nesterov)
with Live("logs") as live:
    for step in range(epochs):
        live.log_metric("acc", round(lr * (step + 1), 4))
        open("model.txt", "w").write(f"step {step}")
        live.next_step()
json.dump({"acc": round(lr * epochs, 4)}, open("metrics.json", "w"))
"""
PARAMS = {"train": {"lr": 0.1, "epochs": 2, "optimizer": "1", "nesterov": True}}


def write_notebook(path: Path, code: str = TRAIN, *, extra: list[str] = ()) -> None:  # type: ignore[assignment]
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell("lr = 0.01\nepochs = 1\noptimizer = 'sgd'\nnesterov = False")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Training"),
        parameters,
        nbformat.v4.new_code_cell(code),
        *(nbformat.v4.new_code_cell(source) for source in extra),
    ]
    nbformat.write(notebook, path)


def save_with_outputs(path: Path) -> None:
    """What Jupyter does on save after running: outputs, counts and metadata change, code does not."""
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[2].outputs = [nbformat.v4.new_output("stream", text="training with 0.1\n")]
    notebook.cells[2].execution_count = 3
    notebook.cells[0].source = "# Training (notes)"
    notebook.metadata["widgets"] = {"state": {}}
    nbformat.write(notebook, path)


@pytest.fixture
def project(git_repo: Path, run_cli: Any) -> Path:
    write_notebook(git_repo / "train.ipynb")
    (git_repo / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    added = run_cli(
        "stage", "add", "-n", "train", "--notebook", "train.ipynb",
        "-p", "train.lr,train.epochs,train.optimizer,train.nesterov", "-M", "metrics.json",
    )  # fmt: skip
    assert added.code == 0, added.err
    return git_repo


def reproduce(root: Path, **options: Any) -> tuple[list[str], str]:
    out: list[str] = []
    ran = Repo(root).pipeline.reproduce(on_output=out.append, **options)
    return ran, "".join(out)


def test_stage_add_writes_a_papermill_stage(project: Path) -> None:
    stage = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]["train"]
    assert stage == {
        "cmd": "papermill train.ipynb train.out.ipynb --no-progress-bar --log-output -p lr ${train.lr} "
        "-p epochs ${train.epochs} -r optimizer '${train.optimizer}' -y 'nesterov: ${train.nesterov}'",
        "deps": ["train.ipynb"],
        "params": ["train.lr", "train.epochs", "train.optimizer", "train.nesterov"],
        "outs": ["train.out.ipynb"],
        "metrics": [{"metrics.json": {"cache": False}}],
    }


def test_repro_runs_the_notebook_with_the_stage_params(project: Path) -> None:
    ran, output = reproduce(project)
    assert ran == ["train"]
    assert "training with 0.1 2 '1' True" in output  # types as in params.yaml: "1" stays a string
    assert json.loads((project / "metrics.json").read_text()) == {"acc": 0.2}
    executed = nbformat.read(project / "train.out.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "lr = 0.1" in injected[0].source
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]["train"]
    out = next(o for o in lock["outs"] if o["path"] == "train.out.ipynb")
    cached = project / ".dvc" / "cache" / "files" / "md5" / out["md5"][:2] / out["md5"][2:]
    assert cached.read_bytes() == (project / "train.out.ipynb").read_bytes()  # the executed copy is cached
    assert "/train.out.ipynb" in (project / ".gitignore").read_text()
    assert Repo(project).pipeline.status() == {}


def test_outputs_and_metadata_do_not_change_the_stage_but_code_does(project: Path) -> None:
    reproduce(project)
    save_with_outputs(project / "train.ipynb")
    pipeline = Repo(project).pipeline
    assert pipeline.status() == {}
    ran, _ = reproduce(project)
    assert ran == []  # nothing ran, yet dvc.lock has the saved notebook's md5 (what DVC compares)
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]["train"]
    assert lock["deps"][0]["md5"] == Repo(project).pipeline.hasher.hash(project / "train.ipynb").md5

    notebook = nbformat.read(project / "train.ipynb", as_version=4)
    notebook.cells[2].source += "\nprint('one more line')"
    nbformat.write(notebook, project / "train.ipynb")
    assert Repo(project).pipeline.status() == {"train": [{"changed deps": {"train.ipynb": "modified"}}]}
    notebook.cells[1].metadata["tags"] = []  # no longer the parameters cell: execution differs
    notebook.cells[2].source = TRAIN
    nbformat.write(notebook, project / "train.ipynb")
    assert Repo(project).pipeline.status() == {"train": [{"changed deps": {"train.ipynb": "modified"}}]}


def test_a_failing_cell_fails_the_stage_with_its_traceback(project: Path) -> None:
    reproduce(project)
    lock_before = (project / "dvc.lock").read_text()
    write_notebook(
        project / "train.ipynb",
        extra=["def check():\n    raise ValueError(f'lr {lr} is too small')\ncheck()"],
    )
    out: list[str] = []
    with pytest.raises(ReproductionError, match="'train'.*papermill train.ipynb.*exited with status 1"):
        Repo(project).pipeline.reproduce(on_output=out.append)
    output = "".join(out)
    assert "ValueError: lr 0.1 is too small" in output and "----> 3 check()" in output
    assert (project / "dvc.lock").read_text() == lock_before


def test_bad_notebook_options_name_the_problem(project: Path, run_cli: Any) -> None:
    (project / "notes.txt").write_text("x")
    cases = [
        (["--notebook", "missing.ipynb"], "missing.ipynb: the notebook does not exist"),
        (["--notebook", "notes.txt"], "not a Jupyter notebook"),
        (["--notebook", "train.ipynb", "-p", "train.nope"], "param 'train.nope' is not in params.yaml"),
        (["--notebook", "train.ipynb", "-p", "other.yaml:lr"], "params.yaml"),
        (["--notebook", "train.ipynb", "python", "x.py"], "the command is papermill's"),
    ]
    for words, message in cases:
        result = run_cli("stage", "add", "-n", "other", *words)
        assert result.code != 0 and message in result.err, (words, result.err)
    (project / "params.yaml").write_text(yaml.safe_dump({"a": {"lr": 1}, "b": {"lr": 2}, "c": [1]}))
    with pytest.raises(JupyterExpError, match="'a.lr' and 'b.lr' would both set the notebook variable 'lr'"):
        _notebook_cmd(project, ["a.lr", "b.lr"])
    with pytest.raises(JupyterExpError, match="param 'c' is a list"):
        _notebook_cmd(project, ["c"])
    assert "other" not in (project / "dvc.yaml").read_text()


def _notebook_cmd(root: Path, params: list[str]) -> str:
    from jupyter_exp.pipeline.notebook import stage_command

    return stage_command(root, "train.ipynb", [",".join(params)])


def test_exp_run_sets_the_notebook_params_and_live_checkpoints_commit(git_repo: Path, run_cli: Any) -> None:
    write_notebook(git_repo / "train.ipynb")
    (git_repo / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    added = run_cli(
        "stage", "add", "-n", "train", "--notebook", "train.ipynb", "-p", "train.lr,train.epochs,"
        "train.optimizer,train.nesterov", "--live", "logs", "-c", "model.txt", "-M", "metrics.json",
    )  # fmt: skip
    assert added.code == 0, added.err
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "notebook stage")
    repo = Repo(git_repo)
    result = repo.experiments.run(["train.lr=0.3", "train.epochs=3"], name="nb")
    # one per live.next_step() inside the notebook's kernel, then the final state (metrics, executed copy)
    assert len(result.checkpoints) == 4
    assert (git_repo / "model.txt").read_text() == "step 2"
    assert (git_repo / "logs" / "acc.tsv").read_text().splitlines()[-1].endswith("\t2\t0.9")
    row = next(r for r in repo.experiments.show().rows if r.name == "nb")
    assert row.metrics["metrics.json"]["acc"] == 0.9 and row.params["params.yaml"]["train.lr"] == 0.3
    git(git_repo, "fsck", "--strict", "--no-dangling")


@pytest.mark.dvc
def test_real_dvc_reproduces_the_same_stage_and_agrees_on_status(project: Path) -> None:
    reproduce(project)
    assert "up to date" in run_dvc(project, "status")
    save_with_outputs(project / "train.ipynb")
    assert "train.ipynb" in run_dvc(project, "status")  # DVC hashes the whole file: it sees a change
    reproduce(project)  # ours runs nothing and records the new md5
    assert "up to date" in run_dvc(project, "status")

    (project / "params.yaml").write_text(yaml.safe_dump({"train": {**PARAMS["train"], "lr": 0.5}}))
    assert DVC is not None
    env = {**os.environ, "PATH": f"{DVC.parent}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    env.pop("PYTHONPATH", None)  # DVC's venv runs papermill and the kernel without jupyter-exp
    code = "import json\njson.dump({'acc': round(lr * epochs, 4)}, open('metrics.json', 'w'))"
    write_notebook(project / "train.ipynb", code)
    done = subprocess.run([str(DVC), "repro"], cwd=project, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((project / "metrics.json").read_text()) == {"acc": 1.0}
    assert Repo(project).pipeline.status() == {}
