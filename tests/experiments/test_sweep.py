"""Optuna sweeps on the real two-stage pipeline: real Optuna, real queued experiments, checked with ``git``."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

from jupyter_exp.errors import ExperimentError
from jupyter_exp.experiments import Experiments
from jupyter_exp.experiments.sweep import STORAGE, SWEEPS_DIR, objective_value, parse_space

from .conftest import fsck, git, queue_refs

SPACE = ["train.lr=loguniform(0.01,1)", "train.epochs=int(1,4)", "prepare.size=10,20"]


def test_the_space_grammar() -> None:
    space, fixed = parse_space([*SPACE, "train.extra=3", "x=range(1,3)", "y=logint(2,64)", "z=uniform(-1,1)"])
    assert [(p.key, p.kind, p.args) for p in space] == [
        ("train.lr", "loguniform", (0.01, 1.0)),
        ("train.epochs", "int", (1, 4)),
        ("prepare.size", "choice", (10, 20)),
        ("x", "choice", (1, 2)),
        ("y", "logint", (2, 64)),
        ("z", "uniform", (-1.0, 1.0)),
    ]
    assert fixed == ["train.extra=3"]


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["a=1"], "needs a search space"),
        (["a=int(1.5,3)"], "int(low, high) with numbers"),
        (["a=loguniform(0,1)"], "low > 0"),
        (["a=uniform(2,1)"], "low < high"),
    ],
)
def test_bad_spaces_name_the_override(words: list[str], message: str) -> None:
    with pytest.raises(ExperimentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_space(words)


def test_objective_lookup() -> None:
    metrics = {"metrics.json": {"acc": 0.5, "loss.train": 0.1}, "logs.json": {"acc": 0.5, "step": 3}}
    assert objective_value(metrics, "acc") == 0.5  # the same value in two files is one objective
    assert objective_value(metrics, "metrics.json:loss.train") == 0.1
    with pytest.raises(ExperimentError, match="'nope' is not among.*metrics.json:acc"):
        objective_value(metrics, "nope")
    with pytest.raises(ExperimentError, match="name one as FILE:acc"):
        objective_value({"a.json": {"acc": 1}, "b.json": {"acc": 2}}, "acc")


def test_each_trial_is_an_experiment_and_the_study_resumes(
    exps: Experiments, project: Path, baseline: str
) -> None:
    before = git(project, "status", "--porcelain")
    result = exps.sweep(SPACE, 4, objective="acc", direction="maximize", jobs=2, seed=3)
    assert [t.state for t in result.trials] == ["complete"] * 4
    assert sorted(t.number for t in result.trials) == [0, 1, 2, 3]
    rows = {row.name: row for row in exps.show().rows if row.kind == "experiment"}
    for trial in result.trials:
        assert trial.name == f"{result.study}-{trial.number}"
        ref = f"refs/exps/{baseline[:2]}/{baseline[2:]}/{trial.name}"
        assert (
            git(project, "rev-parse", ref) == trial.rev
            and git(project, "rev-parse", f"{trial.rev}^") == baseline
        )
        params = rows[trial.name].params["params.yaml"]
        assert params["train.lr"] == pytest.approx(trial.params["train.lr"])
        assert params["train.epochs"] == trial.params["train.epochs"]
        assert params["prepare.size"] == trial.params["prepare.size"]
        assert (
            trial.value == rows[trial.name].metrics["metrics.json"]["acc"]
        )  # train.py: round(lr * epochs, 4)
        assert trial.value == round(params["train.lr"] * params["train.epochs"], 4)
    best = max(result.trials, key=lambda t: t.value or 0)
    assert result.best is not None and result.best.number == best.number and result.best.rev == best.rev
    assert [row.name for row in rows.values() if row.best_of] == [best.name]
    from jupyter_exp.notebook.widgets.table import ExperimentsTable

    widget = ExperimentsTable(exps.show())
    marked = [line for line in widget.to_text().splitlines() if "★" in line]
    assert len(marked) == 1 and best.name in marked[0] and "jx-best-trial" in widget._repr_html_()
    assert git(project, "status", "--porcelain") == before and queue_refs(project) == []

    again = exps.sweep(SPACE, 2, objective="acc", direction="maximize", seed=3)
    assert again.study == result.study and sorted(t.number for t in again.trials) == [4, 5]
    with sqlite3.connect(project / STORAGE) as db:
        assert db.execute("SELECT COUNT(*) FROM trials").fetchone()[0] == 6
    summary = json.loads((project / SWEEPS_DIR / f"{result.study}.json").read_text())
    assert len(summary["trials"]) == 6 and summary["best"]["value"] == max(
        t.value for t in [*result.trials, *again.trials]
    )
    fsck(project)


def test_a_missing_objective_fails_the_trials_with_the_reason(
    exps: Experiments, project: Path, baseline: str, logs: list[str]
) -> None:
    result = exps.sweep(["train.lr=uniform(0.1,0.2)"], 1, objective="f1")
    assert [t.state for t in result.trials] == ["failed"] and result.best is None
    assert "objective 'f1' is not among the experiment's metrics" in (result.trials[0].error or "")
    assert any(line.startswith("Trial 0 failed: objective 'f1'") for line in logs)


SLOW_TRAIN = """\
import json, os, time, yaml
from jupyter_exp.live import Live
counter = os.environ["SWEEP_COUNTER"]
runs = int(open(counter).read()) if os.path.exists(counter) else 0
open(counter, "w").write(str(runs + 1))
p = yaml.safe_load(open("params.yaml"))["train"]
score = p["lr"] if runs < 5 else 0.0  # the sixth trial on is worse than every earlier one
with Live("logs") as live:
    for step in range(p["epochs"]):
        live.log_metric("score", score)
        live.next_step()
        time.sleep(0.3 if runs >= 5 else 0)
json.dump({"score": score}, open("metrics.json", "w"))
"""


def test_the_pruner_stops_trials_through_their_live_steps(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyter_exp.repo import Repo

    monkeypatch.setenv("SWEEP_COUNTER", str(tmp_path / "runs"))
    (git_repo / "train.py").write_text(SLOW_TRAIN)
    (git_repo / "params.yaml").write_text("train:\n  lr: 0.5\n  epochs: 6\n")
    repo = Repo(git_repo)
    repo.add_stage(
        "train",
        {
            "cmd": f"{sys.executable} train.py",
            "deps": ["train.py"],
            "params": ["train"],
            "live": {"logs": {"summary": True, "html": False}},
            "metrics": [{"metrics.json": {"cache": False}}],
        },
    )
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "slow")
    result = repo.experiments.sweep(
        ["train.lr=uniform(0.5,1)"], 7, objective="score", direction="maximize", seed=0
    )
    states = {t.number: t.state for t in result.trials}
    assert states == {
        0: "complete",
        1: "complete",
        2: "complete",
        3: "complete",
        4: "complete",
        5: "pruned",
        6: "pruned",
    }
    names = repo.experiments.list()
    made = {name for listed in names.values() for name in listed}
    assert made == {f"{result.study}-{n}" for n in range(5)}  # pruned trials commit nothing
    assert queue_refs(git_repo) == []


def test_cli_words_run_a_sweep(run_cli, project: Path, baseline: str) -> None:  # noqa: ANN001
    words = [
        "--optuna",
        "2",
        "-S",
        "train.lr=uniform(0.1,0.2)",
        "--objective",
        "acc",
        "--direction",
        "maximize",
    ]
    done = run_cli("sweep", *words, "-j", "2", "--study", "lr-search", "--seed", "1")
    assert done.code == 0, done.err
    assert "Starting study 'lr-search' (0 trials so far): 2 more, 2 at a time, maximize 'acc'" in done.out
    assert (
        "Study 'lr-search': best trial" in done.out
        and "lr-search-0" in done.out
        and "lr-search-1" in done.out
    )
    bad = run_cli("sweep", *words, "-S", "train.epochs=int(3,1)")
    assert bad.code != 0 and "train.epochs=int(3,1)" in bad.err
    missing = run_cli("sweep", "-S", "train.lr=uniform(0.1,0.2)", "--objective", "acc")
    assert missing.code == 2 and "--optuna" in missing.err
