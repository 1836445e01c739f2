"""Outputs that degrade well: a notebook saved with the experiments table and a live plot, converted with
``nbconvert --to html`` (what GitHub's viewer and front ends without the widget manager show), still shows
the table's rows and the plot's curve.

nbconvert (and GitHub) show a widget's static ``text/html`` when the notebook holds no widget state, which is
how JupyterLab and Notebook 7 save by default; nbclient stores the state, so the test drops it, as a save from
JupyterLab would. (With state saved, nbconvert embeds the widget views for the widget manager's CDN
JavaScript instead of the static HTML.)"""

from __future__ import annotations

import re
import sys
from typing import Any

import nbformat
import pytest
from conftest import git, outputs_text, run_notebook
from nbconvert import HTMLExporter

pytestmark = pytest.mark.notebook

DVC_YAML = """\
stages:
  train:
    cmd: {python} train.py
    deps: [train.py]
    params: [lr]
    live:
      logs:
        summary: true
"""
TRAIN = """\
import yaml
from jupyter_exp.live import Live
lr = yaml.safe_load(open("params.yaml"))["lr"]
with Live("logs") as live:
    for step in range(6):
        live.log_metric("loss", round(1 / (1 + lr * (step + 1)), 5))
        live.next_step()
"""


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A repository with two experiments; a notebook runs a third (live plot) and shows the table; the saved
    notebook converted to HTML."""
    root = tmp_path_factory.mktemp("static") / "repo"
    root.mkdir()
    from dulwich.repo import Repo as DulwichRepo

    from jupyter_exp.repo import Repo

    DulwichRepo.init(str(root)).close()
    Repo.init(root)
    (root / "dvc.yaml").write_text(DVC_YAML.format(python=sys.executable))
    (root / "train.py").write_text(TRAIN)
    (root / "params.yaml").write_text("lr: 0.1\n")
    (root / ".gitignore").write_text("/outputs.ipynb\n/shown.ipynb\n")
    git(root, "add", ".")
    git(root, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "-m", "pipeline")
    repo = Repo(root)
    repo.experiments.run(["lr=0.5"], name="exp-fast")
    repo.experiments.run(["lr=0.05"], name="exp-slow")

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%load_ext jupyter_exp"),
        nbformat.v4.new_code_cell("%exp_run -S lr=0.2 -n exp-live"),
        nbformat.v4.new_code_cell("from jupyter_exp import Repo\nRepo('.').experiments.show().widget()"),
    ])
    nbformat.write(notebook, root / "shown.ipynb")
    executed = run_notebook(root / "shown.ipynb", root / "outputs.ipynb",
                            env={"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com",
                                 "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.com"})
    saved = nbformat.read(executed["saved"], as_version=4)
    assert saved.metadata["widgets"]  # nbclient saved the widget state
    del saved.metadata["widgets"]
    page, _ = HTMLExporter().from_notebook_node(saved)
    return {"cells": executed["cells"], "html": page}


def test_the_notebook_ran(converted: dict[str, Any]) -> None:
    for code in converted["cells"].values():
        assert all(o["output_type"] != "error" for o in code.outputs), outputs_text(code)
    assert "Reproduced experiment(s): exp-live" in outputs_text(converted["cells"]["%exp_run -S lr=0.2 -n exp-live"])


def test_the_table_rows_are_in_the_html(converted: dict[str, Any]) -> None:
    tables = re.findall(r'<table class="jx-table jx-static">.*?</table>', converted["html"], re.S)
    assert len(tables) == 1
    rows = re.findall(r'<tr class="jx-row jx-(\w+)" data-rev="[^"]+">(.*?)</tr>', tables[0], re.S)
    kinds = [kind for kind, _ in rows]
    assert kinds.count("experiment") == 3 and kinds[0] == "workspace" and "baseline" in kinds
    text = " ".join(cells for _, cells in rows)
    for name in ("exp-fast", "exp-slow", "exp-live", "0.5", "0.05", "0.2"):
        assert name in text


def test_the_live_plot_is_in_the_html(converted: dict[str, Any]) -> None:
    svgs = re.findall(r'<svg [^>]*class="jx-live-panel" data-metric="([^"]+)"', converted["html"])
    assert svgs == ["loss"]
    curve = re.search(r'data-metric="loss".*?<polyline [^>]*points="([^"]+)"', converted["html"], re.S)
    assert curve is not None and len(curve.group(1).split()) == 6  # one point per logged step
    # The last value the run logged (lr 0.2, step 6: 0.45455) is written on the plot.
    assert "last 0.4546" in converted["html"]
