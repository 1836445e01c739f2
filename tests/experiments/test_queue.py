"""Queued experiments and ``--run-all -j N`` on a real two-stage pipeline, checked with the ``git`` CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from jupyter_exp.errors import ExperimentError, YAMLFileError
from jupyter_exp.experiments import Experiments
from jupyter_exp.experiments.queued import QUEUE_NAMESPACE, entries
from jupyter_exp.experiments.refs import EXEC_APPLY

from .conftest import TRAIN, fsck, git, queue_refs

SKIP_DIRS = {".git", "tmp", "cache"}


def workspace_state(root: Path) -> dict[str, bytes]:
    """Every file of the workspace (ignored outputs included), outside Git's and DVC's own folders."""
    state = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not (set(rel.parts[:-1]) & SKIP_DIRS and rel.parts[0] in (".git", ".dvc")):
            state[rel.as_posix()] = path.read_bytes()
    return state


def test_queue_records_a_commit_and_leaves_the_workspace_alone(
    exps: Experiments, project: Path, baseline: str, logs: list[str]
) -> None:
    before = workspace_state(project)
    result = exps.run(["train.lr=0.2", "+train.extra=1"], queue=True)
    named = exps.run({"train.epochs": 7}, name="long", queue=True)
    assert workspace_state(project) == before
    assert result.queued and result.name == result.rev[:7] and not result.stages
    assert logs[-2:] == [
        f"Queued experiment '{result.name}' for future execution.",
        "Queued experiment 'long' for future execution.",
    ]
    assert queue_refs(project) == sorted(
        [f"{QUEUE_NAMESPACE}/queued/{result.rev}", f"{QUEUE_NAMESPACE}/queued/{named.rev}"]
    )
    assert git(project, "rev-parse", f"{result.rev}^") == baseline
    params = git(project, "show", f"{result.rev}:params.yaml")
    assert "lr: 0.2  # learning rate" in params and "extra: 1" in params  # format and comment kept
    assert git(project, "rev-parse", "HEAD") == baseline and git(project, "status", "--porcelain") == ""

    rows = {row.label: row for row in exps.show().rows}
    queued = rows[f"*{result.name}"]
    assert (queued.kind, queued.name, queued.metrics) == ("queued", None, {})
    assert queued.params["params.yaml"]["train.lr"] == 0.2
    assert rows["*long"].params["params.yaml"]["train.epochs"] == 7 and rows["*long"].name == "long"
    assert [row.glyph for row in exps.show().rows if row.kind == "queued"] == ["├── ", "└── "]
    fsck(project)


def test_queue_validates_before_recording(exps: Experiments, project: Path, baseline: str) -> None:
    with pytest.raises(YAMLFileError, match="train.nope"):
        exps.run(["train.nope=1"], queue=True)
    with pytest.raises(ExperimentError, match="'missing.yaml'"):
        exps.run(["missing.yaml:a=1"], queue=True)
    exps.run(["train.lr=0.2"], name="fast", queue=True)
    with pytest.raises(ExperimentError, match="conflicts with existing experiment 'fast'"):
        exps.run(["train.lr=0.3"], name="fast", queue=True)
    replaced = exps.run(["train.lr=0.3"], name="fast", queue=True, force=True)
    assert [entry.id for entry in entries(exps.git)] == [replaced.rev]
    with pytest.raises(ExperimentError, match="Invalid experiment name"):
        exps.run(name="a b", queue=True)


def test_run_all_in_parallel_records_experiments_of_the_baseline(
    exps: Experiments, project: Path, baseline: str
) -> None:
    before = workspace_state(project)
    queued = [
        exps.run(["train.lr=0.2"], queue=True),
        exps.run(["train.lr=0.3"], name="named", queue=True),
        exps.run(["prepare.size=20", "train.epochs=2"], queue=True),
        exps.run(["prepare.size=30"], targets=["prepare"], queue=True),
    ]
    results = exps.run_all(jobs=2)
    assert [r.error for r in results] == [None, None, None, None]
    assert results[1].name == "named"
    assert workspace_state(project) == before  # the user's workspace never saw the runs
    assert git(project, "status", "--porcelain") == "" and git(project, "branch", "--list") == "* main"
    assert queue_refs(project) == [] and exps.git.get_ref(EXEC_APPLY) is None
    for result in results:
        assert result.ref == f"refs/exps/{baseline[:2]}/{baseline[2:]}/{result.name}"
        assert git(project, "rev-parse", result.ref) == result.rev
        assert git(project, "rev-parse", f"{result.rev}^") == baseline
    assert results[0].stages == ["train"]  # prepare's output came from the cache: unchanged stage skipped
    assert results[2].stages == ["prepare", "train"]
    assert results[3].stages == ["prepare"]  # the queued targets

    rows = {row.name: row for row in exps.show().rows if row.kind == "experiment"}
    expected = {results[0].name: (0.2, 5, 1.0), "named": (0.3, 5, 1.5), results[2].name: (0.1, 2, 0.2)}
    for name, (lr, epochs, acc) in expected.items():
        assert rows[name].params["params.yaml"]["train.lr"] == lr
        assert rows[name].params["params.yaml"]["train.epochs"] == epochs
        assert rows[name].metrics["metrics.json"]["acc"] == acc
    model = git(project, "show", f"{results[2].rev}:dvc.lock")
    assert "model.txt" in model and not queued[2].error
    exps.apply(results[2].name)  # its cached outputs are in the shared cache
    assert (project / "model.txt").read_text() == "model lr=0.1 epochs=2 n=20"
    assert (project / "data.txt").read_text() == "x" * 20
    fsck(project)


def test_a_failure_stays_queued_marked_failed_and_others_finish(
    exps: Experiments, project: Path, baseline: str, logs: list[str]
) -> None:
    bad = exps.run(["train.epochs=oops"], name="bad", queue=True)
    good = exps.run(["train.lr=0.2"], queue=True)
    results = exps.run_all(jobs=2)
    assert results[0].error and "command" in results[0].error and "exited with status 1" in results[0].error
    assert results[1].error is None and git(project, "rev-parse", f"{results[1].rev}^") == baseline
    assert any(line.startswith("Failed to reproduce experiment 'bad'") for line in logs)
    assert queue_refs(project) == [f"{QUEUE_NAMESPACE}/failed/{bad.rev}"]
    log_file = project / ".dvc" / "tmp" / "jupyter-exp" / "queue" / f"{bad.rev}.log"
    assert "TypeError" in log_file.read_text()  # the stage's own traceback, kept for the user

    failed = next(row for row in exps.show().rows if row.kind == "queued")
    assert failed.label == "*bad (failed)" and "exited with status 1" in (failed.error or "")
    assert good.rev not in {entry.id for entry in entries(exps.git)}
    assert exps.run_all() == []  # failed entries are not retried
    assert logs[-1] == "No queued experiments to run."
    assert exps.remove(["bad"]) == ["bad"]
    assert queue_refs(project) == [] and not log_file.exists()
    fsck(project)



def test_stop_ends_the_runs_and_keeps_their_entries_queued(
    exps: Experiments, project: Path, baseline: str
) -> None:
    (project / "train.py").write_text("import time\ntime.sleep(60)\n" + TRAIN)
    exps.run(["train.lr=0.2"], queue=True)
    exps.run(["train.lr=0.3"], queue=True)
    git(project, "checkout", "--", "train.py")
    stop = threading.Event()
    threading.Timer(1.5, stop.set).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        exps.run_all(jobs=2, stop=stop)
    assert time.monotonic() - started < 15
    assert [entry.failed for entry in entries(exps.git)] == [False, False]
    runs = project / ".dvc" / "tmp" / "jupyter-exp" / "queue"
    assert all(path.suffix == ".log" for path in runs.iterdir())  # the temporary workspaces are gone
    assert not exps.list()  # no experiment was recorded


def test_remove_queue_and_gc(exps: Experiments, project: Path, baseline: str) -> None:
    done = exps.run(["train.lr=0.2"])
    first = exps.run(["train.lr=0.3"], queue=True)
    exps.run(["train.lr=0.4"], name="later", queue=True)
    assert exps.remove([first.name]) == [first.name]
    assert sorted(exps.remove(queue=True)) == ["later"]
    assert queue_refs(project) == []

    exps.run(["train.lr=0.5"], name="kept", queue=True)
    assert exps.gc(workspace=True, queued=True) == []
    assert len(queue_refs(project)) == 1
    questions: list[str] = []
    assert exps.gc(workspace=True, confirm=lambda q: questions.append(q) or True) == ["kept"]
    assert "Run queued experiments will be removed." in questions[0]
    assert queue_refs(project) == [] and git(project, "rev-parse", done.ref) == done.rev


def test_cli_queue_run_all_and_remove(project: Path, baseline: str, exps: Experiments) -> None:
    def cli(*words: str) -> subprocess.CompletedProcess[str]:
        code = "import sys; from jupyter_exp.cli import main; sys.exit(main(sys.argv[1:]))"
        return subprocess.run(
            [sys.executable, "-c", code, *words], cwd=project, capture_output=True, text=True
        )

    queued = cli("run", "--queue", "-S", "train.lr=0.2", "-n", "cli-exp")
    assert queued.returncode == 0, queued.stderr
    assert queued.stdout.strip() == "Queued experiment 'cli-exp' for future execution."
    shown = json.loads(cli("show", "--json").stdout)
    assert [(r["kind"], r["name"]) for r in shown if r["kind"] == "queued"] == [("queued", "cli-exp")]
    assert cli("run", "--run-all", "-S", "a=1").returncode == 2
    ran = cli("run", "--run-all", "-j", "2")
    assert ran.returncode == 0, ran.stderr
    assert "Reproduced experiment(s): cli-exp" in ran.stdout
    assert cli("run", "--queue", "-S", "train.epochs=oops").returncode == 0
    failed = cli("run", "--run-all")
    assert failed.returncode == 1 and "1 of 1 queued experiments failed" in failed.stderr
    assert cli("remove", "--queue").returncode == 0
    assert queue_refs(project) == []


@pytest.mark.dvc
def test_dvc_lists_no_queue_entry_as_an_experiment(exps: Experiments, project: Path, baseline: str) -> None:
    from conftest import run_dvc  # tests/conftest.py: the reference DVC

    def dvc(*args: str) -> str:
        return run_dvc(project, *args)

    exps.run(["train.lr=0.2"], name="real")
    exps.run(["train.lr=0.3"], name="waiting", queue=True)
    exps.run(["train.epochs=oops"], name="broken", queue=True)
    exps.run_all(jobs=1)  # "waiting" runs, "broken" stays failed: one entry left
    exps.run(["train.lr=0.4"], queue=True)
    shown = json.loads(dvc("exp", "show", "--json"))
    assert sorted(group["name"] for group in shown[1]["experiments"]) == ["real", "waiting"]
    assert "broken" not in dvc("exp", "list", "-A") and "real" in dvc("exp", "list", "-A")
    dvc("exp", "remove", "-A")
    assert len(queue_refs(project)) == 2  # DVC leaves our queue alone
