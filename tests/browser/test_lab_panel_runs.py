"""Runs seen from the Experiments panel, in a real JupyterLab and Chromium: an experiment queued with changed
params goes queued -> running (its live metrics moving in its row) -> done; an Optuna sweep started from
the Sweep… button fills the table with its trials, the best one marked ★."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from jupyter_exp.repo import Repo

if TYPE_CHECKING:
    from conftest import LabServer  # tests/browser/conftest.py

pytestmark = pytest.mark.browser

PANEL = ".jx-panel"
SCORE = "metrics:logs.json:score"
DVC_YAML = """\
stages:
  train:
    cmd: {python} train.py
    deps: [train.py]
    params: [train]
    live:
      logs:
        summary: true
        html: false
"""
# Once the test makes the gate folder, each live step waits for its file there: the test sees a step in
# the panel, then lets the next one happen (nothing is timed).
TRAIN = """\
import time, yaml
from pathlib import Path
from jupyter_exp.live import Live
gate = Path({gate!r})
p = yaml.safe_load(open("params.yaml"))["train"]
with Live("logs", html=False) as live:
    for step in range(p["steps"]):
        live.log_metric("score", round(p["lr"] * (step + 1), 4))
        live.next_step()
        while gate.is_dir() and not (gate / str(step)).exists():
            time.sleep(0.05)
"""
RUN_S = 120_000  # ms: a queue run, worker start-up included, on a loaded two-core machine


def make_repo(root: Path) -> Path:
    """A committed, reproduced live-logging pipeline; its training waits at each step while the folder
    ``<root>.gate`` exists (the baseline trains with no gate)."""

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)

    root.mkdir()
    git("init", "-q", "-b", "main")
    Repo.init(root)
    (root / "dvc.yaml").write_text(DVC_YAML.format(python=sys.executable))
    (root / "train.py").write_text(TRAIN.format(gate=str(root.with_name(f"{root.name}.gate"))))
    (root / "params.yaml").write_text("train:\n  lr: 0.1\n  steps: 2\n")
    Repo(root).pipeline.reproduce()
    git("add", "-A")
    git("commit", "-q", "-m", "baseline")
    return root


def open_panel(page: Any, lab_server: LabServer, repo: Path) -> Any:
    # ?reset: a fresh layout (the server's workspace remembers the panel an earlier test left open).
    page.goto(f"{lab_server.url}lab/tree/{repo.name}?token={lab_server.token}&reset", timeout=60_000)
    page.locator(".jp-DirListing-itemText", has_text="dvc.yaml").wait_for(timeout=60_000)
    page.keyboard.press("Control+Shift+C")
    page.locator(".lm-CommandPalette-input").fill("Experiments: Open panel")
    page.locator(".lm-CommandPalette-item", has_text="Experiments: Open panel").first.click()
    panel = page.locator(PANEL)
    panel.locator("tr.jx-row.jx-baseline").wait_for(timeout=30_000)
    return panel


def rows(page: Any) -> list[dict[str, Any]]:
    return page.eval_on_selector_all(
        f"{PANEL} tr.jx-row",
        f"""rows => rows.map(r => ({{
            kind: r.dataset.kind, running: r.classList.contains('jx-running'),
            experiment: r.querySelector('[data-col="Experiment"]').textContent,
            score: r.querySelector('[data-col="{SCORE}"]')?.textContent ?? null,
        }}))""",
    )


def fill_dialog(page: Any, text: str) -> None:
    dialog = page.locator(".jp-Dialog")
    dialog.locator("input").fill(text)
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()


@pytest.fixture
def page(chromium: Any, artifacts: Path) -> Iterator[Any]:
    """A tab; at the end its last screenshot and console go to the artifacts (what a failure looked like),
    and an uncaught page error fails the test."""
    tab = chromium.new_page()
    console: list[str] = []
    tab.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
    tab.on("pageerror", lambda err: console.append(f"pageerror: {err}"))
    yield tab
    tab.screenshot(path=str(artifacts / "last.png"))
    (artifacts / "console.log").write_text("\n".join(console))
    tab.close()
    errors = [line for line in console if line.startswith("pageerror")]
    assert not errors, "\n".join(errors)


def test_a_queued_experiment_runs_with_live_metrics_in_its_row(
    page: Any, lab_server: LabServer, artifacts: Path, git_identity: None
) -> None:
    repo = make_repo(lab_server.root / "live-repo")
    gate = repo.with_name(f"{repo.name}.gate")
    panel = open_panel(page, lab_server, repo)
    panel.locator("button[data-action='queue']").click()
    fill_dialog(page, "train.lr=0.3 train.steps=6")
    panel.locator("tr.jx-row.jx-queued").wait_for(timeout=15_000)
    assert [r["running"] for r in rows(page) if r["kind"] == "queued"] == [False]

    gate.mkdir()
    panel.locator("button[data-action='run_all']").click()
    running = panel.locator("tr.jx-row.jx-queued.jx-running")
    try:
        running.wait_for(timeout=RUN_S)
        assert "(running)" in running.locator('[data-col="Experiment"]').inner_text()
        page.wait_for_function(  # the first live step reached the row
            f"""() => document.querySelector('{PANEL} tr.jx-running [data-col="{SCORE}"]')
                ?.textContent === '0.3'""",
            timeout=RUN_S,
        )
        page.screenshot(path=str(artifacts / "running.png"))
        (gate / "0").touch()
        page.wait_for_function(  # the next step, in the same row, still running
            f"""() => document.querySelector('{PANEL} tr.jx-running [data-col="{SCORE}"]')
                ?.textContent === '0.6'""",
            timeout=RUN_S,
        )
    finally:  # the rest of the training goes through, whatever happened
        for step in range(6):
            (gate / str(step)).touch()

    page.wait_for_function(
        "() => !document.querySelector('.jx-panel tr.jx-queued')"
        " && document.querySelectorAll('.jx-panel tr.jx-row.jx-experiment').length === 1",
        timeout=RUN_S,
    )
    (done,) = [r for r in rows(page) if r["kind"] == "experiment"]
    assert (done["running"], done["score"]) == (False, "1.8")  # 0.3 * 6 steps
    assert "(running)" not in done["experiment"]
    panel.locator(".jx-message", has_text="Queue done: 1 succeeded").wait_for(timeout=15_000)
    page.screenshot(path=str(artifacts / "done.png"))


def test_a_sweep_from_the_panel_shows_its_trials_and_marks_the_best(
    page: Any, lab_server: LabServer, artifacts: Path, git_identity: None
) -> None:
    repo = make_repo(lab_server.root / "sweep-repo")
    panel = open_panel(page, lab_server, repo)
    panel.locator("button[data-action='sweep']").click()
    fill_dialog(
        page,
        "--optuna 2 -S train.lr=uniform(0.1,0.9) --objective score --direction maximize -j 1 --study panel",
    )
    panel.locator(".jx-message", has_text="Sweeping 2 trial(s) in the background").wait_for(timeout=15_000)
    panel.locator(".jx-message", has_text="Queue done: 2 succeeded").wait_for(timeout=RUN_S)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jx-panel tr.jx-experiment')]"
        ".filter(r => r.textContent.includes('★')).length === 1",
        timeout=15_000,
    )
    trials: dict[str, tuple[float, bool]] = {}  # name -> (final score, marked best)
    for row in rows(page):
        if row["kind"] == "experiment":
            label = row["experiment"].lstrip("├└─ ")
            trials[label.removesuffix(" ★")] = (float(row["score"]), label.endswith(" ★"))
    assert set(trials) == {"panel-0", "panel-1"}
    best = max(trials, key=lambda name: trials[name][0])  # maximize: the higher final score
    assert [name for name, (_, starred) in trials.items() if starred] == [best]
    page.screenshot(path=str(artifacts / "sweep.png"))
