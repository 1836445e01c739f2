"""The "Experiments" side panel (labextension/ over jupyter_exp/server/) in a real JupyterLab and Chromium.

A person opens a repository folder in the file browser, opens the panel from the command palette, sees
the experiments, sorts them by a metric, queues an experiment with changed params, compares two
experiments (their diff and plots) in a new tab, sees an experiment queued elsewhere appear, and runs
the queue.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from jupyter_exp.repo import Repo

if TYPE_CHECKING:
    from conftest import LabServer  # tests/browser/conftest.py

pytestmark = pytest.mark.browser

PANEL = ".jx-panel"
LOSS = "metrics:metrics.json:loss"
EXPERIMENTS = {"lr-2": "train.lr=0.2", "lr-5": "train.lr=0.5", "lr-3": "train.lr=0.3"}
DVC_YAML = """\
stages:
  train:
    cmd: {python} train.py
    deps: [train.py]
    params: [train.lr]
    metrics:
      - metrics.json:
          cache: false
    plots:
      - history.json:
          cache: false
"""
TRAIN = """\
import json, yaml
lr = yaml.safe_load(open("params.yaml"))["train"]["lr"]
json.dump({"loss": round(1 - lr, 4), "acc": lr}, open("metrics.json", "w"))
json.dump([{"step": i, "loss": round(1 - lr * i / 2, 4)} for i in range(3)], open("history.json", "w"))
"""


def make_repo(root: Path) -> Path:
    """A reproduced, committed pipeline with one experiment per ``EXPERIMENTS`` entry (made by the Repo API)."""

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)

    root.mkdir()
    git("init", "-q", "-b", "main")
    Repo.init(root)
    (root / "dvc.yaml").write_text(DVC_YAML.format(python=sys.executable))
    (root / "train.py").write_text(TRAIN)
    (root / "params.yaml").write_text("train:\n  lr: 0.1\n")
    repo = Repo(root)
    repo.pipeline.reproduce()
    git("add", "-A")
    git("commit", "-q", "-m", "baseline")
    for name, param in EXPERIMENTS.items():
        repo.experiments.run([param], name=name)
    git("checkout", "-q", "--", ".")
    return root


def rows(page: Any) -> list[dict[str, str]]:
    """The panel's rows top to bottom: rev, kind, the Experiment cell and the loss cell."""
    return page.eval_on_selector_all(
        f"{PANEL} tr.jx-row",
        f"""rows => rows.map(r => ({{
            rev: r.dataset.rev, kind: r.dataset.kind,
            experiment: r.querySelector('[data-col="Experiment"]').textContent,
            loss: r.querySelector('[data-col="{LOSS}"]').textContent,
        }}))""",
    )


def diff_tables(page: Any) -> dict[str, list[list[str]]]:
    """The Compare tab's diff: per kind, the header then each row's cells."""
    return page.eval_on_selector_all(
        ".jx-compare .jx-diff-table",
        """tables => Object.fromEntries(tables.map(t => [t.dataset.kind,
            [...t.rows].map(r => [...r.cells].map(c => c.textContent))]))""",
    )


def experiment_names(page: Any) -> list[str]:
    return [row["experiment"].lstrip("├└─ ") for row in rows(page) if row["kind"] == "experiment"]


def test_experiments_panel_lists_sorts_queues_compares_and_runs_the_queue(
    chromium: Any, lab_server: LabServer, artifacts: Path, git_identity: None
) -> None:
    repo = make_repo(lab_server.root / "panel-repo")
    page = chromium.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda err: console.append(f"pageerror: {err}"))
    try:
        # ?reset: a fresh layout (the server remembers a panel another test left over the file browser).
        page.goto(f"{lab_server.url}lab/tree/{repo.name}?token={lab_server.token}&reset", timeout=60_000)
        page.locator(".jp-DirListing-itemText", has_text="dvc.yaml").wait_for(timeout=60_000)

        page.keyboard.press("Control+Shift+C")
        palette = page.locator(".lm-CommandPalette-input")
        palette.fill("Experiments: Open panel")
        page.locator(".lm-CommandPalette-item", has_text="Experiments: Open panel").first.click()
        panel = page.locator(PANEL)
        panel.wait_for(state="visible", timeout=10_000)
        page.wait_for_function(
            "n => document.querySelectorAll('.jx-panel tr.jx-row').length === n",
            arg=2 + len(EXPERIMENTS),
            timeout=20_000,
        )
        assert panel.locator(".jx-root").inner_text() == repo.name
        assert [row["kind"] for row in rows(page)] == ["workspace", "baseline", *["experiment"] * 3]
        assert sorted(experiment_names(page)) == sorted(EXPERIMENTS)
        page.screenshot(path=str(artifacts / "panel.png"))

        header = panel.locator(f'th.jx-th[data-col="{LOSS}"]')
        header.click()
        panel.locator(f'th.jx-th.jx-asc[data-col="{LOSS}"]').wait_for(timeout=5_000)
        assert experiment_names(page) == ["lr-5", "lr-3", "lr-2"]  # loss 0.5 < 0.7 < 0.8
        assert [row["loss"] for row in rows(page)][2:] == ["0.5", "0.7", "0.8"]
        header.click()
        panel.locator(f'th.jx-th.jx-desc[data-col="{LOSS}"]').wait_for(timeout=5_000)
        assert experiment_names(page) == ["lr-2", "lr-3", "lr-5"]
        assert [row["kind"] for row in rows(page)][:2] == ["workspace", "baseline"]
        panel.screenshot(path=str(artifacts / "panel-sorted-desc.png"))

        panel.locator("button[data-action='queue']").click()
        dialog = page.locator(".jp-Dialog")
        dialog.locator("input").fill("train.lr=0.9")
        page.screenshot(path=str(artifacts / "queue-dialog.png"))
        dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
        queued = panel.locator("tr.jx-row.jx-queued")
        queued.wait_for(timeout=15_000)
        assert "Queued experiment" in panel.locator(".jx-message").inner_text()
        assert panel.locator(".jx-queue-state").inner_text() == "1 queued"
        assert panel.locator("button[data-action='run_all']").is_enabled()
        queued_rev = queued.get_attribute("data-rev")
        assert [e.params for e in Repo(repo).experiments.show().rows if e.rev == queued_rev] == [
            {"params.yaml": {"train.lr": 0.9}}
        ]
        page.screenshot(path=str(artifacts / "panel-queued.png"))

        for name in ("lr-2", "lr-5"):
            panel.locator("tr.jx-row", has_text=name).click()
        assert panel.locator("tr.jx-row.jx-selected").count() == 2
        panel.locator("button[data-action='compare']").click()
        frame = page.frame_locator(".jx-compare iframe")
        frame.locator("svg circle[data-tip^='lr-5']").first.wait_for(state="attached", timeout=15_000)
        assert frame.locator("svg circle[data-tip^='lr-2']").count() > 0
        # Two rows: their `exp diff` above the plots, A the upper row (loss sorted descending: lr-2).
        diff = page.locator(".jx-compare .jx-diff")
        assert diff.locator("h3").inner_text() == "lr-5 against lr-2"
        assert diff_tables(page) == {
            "metrics": [
                ["Path", "Metric", "lr-2", "lr-5", "Change"],
                ["metrics.json", "acc", "0.2", "0.5", "0.3"],
                ["metrics.json", "loss", "0.8", "0.5", "-0.3"],
            ],
            "params": [
                ["Path", "Param", "lr-2", "lr-5", "Change"],
                ["params.yaml", "train.lr", "0.2", "0.5", "0.3"],
            ],
        }
        page.screenshot(path=str(artifacts / "compare-tab.png"))

        Repo(repo).experiments.run(["train.lr=0.6"], name="from-cli", queue=True)  # outside the panel
        page.wait_for_function(  # polling picks it up while the panel is visible
            "() => document.querySelectorAll('.jx-panel tr.jx-row.jx-queued').length === 2", timeout=15_000
        )
        panel.locator("button[data-action='run_all']").click()
        page.wait_for_function(
            "() => !document.querySelector('.jx-panel tr.jx-row.jx-queued')"
            " && document.querySelectorAll('.jx-panel tr.jx-row.jx-experiment').length === 5",
            timeout=90_000,
        )
        panel.locator(".jx-message", has_text="Queue done: 2 succeeded").wait_for(timeout=15_000)
        names = experiment_names(page)
        assert set(names) >= {*EXPERIMENTS, "from-cli"} and len(names) == 5, names
        assert [name for name in names if name.startswith("exp-")], names  # the unnamed one got a name
        assert {row["loss"] for row in rows(page)} >= {"0.1", "0.4"}  # lr 0.9 and 0.6 trained
        panel.screenshot(path=str(artifacts / "panel-after-run-queue.png"))
    except Exception as err:
        page.screenshot(path=str(artifacts / "failure.png"))
        errors = [line for line in console if line.startswith(("error", "pageerror"))]
        pytest.fail(f"{type(err).__name__}: {err}\nconsole errors:\n" + ("\n".join(errors[-30:]) or "(none)"))
    finally:
        (artifacts / "console.log").write_text("\n".join(console))
        page.close()
