"""plots show/diff: definitions from dvc.yaml, series per revision (real Git commits), offline HTML."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import commit_files, write_files
from dulwich import porcelain

from jupyter_exp.errors import YAMLFileError
from jupyter_exp.fsutil import WorkspaceTree
from jupyter_exp.plots import collect, plots_diff, plots_json, plots_show
from jupyter_exp.scm.git import Git

LIVE_DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    live:
      logs:
        summary: true
"""


def tsv(name: str, values: list[float]) -> str:
    lines = [f"timestamp\tstep\t{name}"] + [f"{1000 + i}\t{i}\t{v}" for i, v in enumerate(values)]
    return "\n".join(lines) + "\n"


def figure(html: str, plot_id: str) -> str:
    match = re.search(rf'<figure data-plot="{re.escape(plot_id)}">(.*?)</figure>', html, re.S)
    assert match, f"no figure for {plot_id}"
    return match.group(1)


@pytest.fixture
def live_repo(tmp_path: Path) -> Path:
    """Two committed runs of a live-logging stage and a third, uncommitted, in the workspace."""
    root = tmp_path / "repo"
    root.mkdir()
    porcelain.init(str(root))
    commit_files(root, {"dvc.yaml": LIVE_DVC_YAML, "logs/loss.tsv": tsv("loss", [0.9, 0.7, 0.5])}, "run 1")
    commit_files(
        root,
        {"logs/loss.tsv": tsv("loss", [0.8, 0.5, 0.3]), "logs/train/acc.tsv": tsv("train/acc", [0.1, 0.4])},
        "run 2",
    )
    write_files(root, {"logs/loss.tsv": tsv("loss", [0.7, 0.4, 0.2, 0.1])})
    return root


def test_diff_overlays_one_series_per_revision_offline(live_repo: Path) -> None:
    git = Git(live_repo)
    trees = {"workspace": WorkspaceTree(live_repo), "HEAD": git.tree("HEAD"), "HEAD~1": git.tree("HEAD~1")}
    page = plots_diff(trees, out_dir=live_repo / "dvc_plots")
    assert page == (live_repo / "dvc_plots" / "index.html").resolve()
    html = page.read_text()
    loss = figure(html, "logs/loss.tsv")
    assert loss.count("<polyline") == 3
    assert re.findall(r"<li><i [^>]*></i>([^<]*)</li>", loss) == ["workspace", "HEAD", "HEAD~1"]
    # The nested metric exists only from run 2 on: two revisions, no error for the third.
    acc = figure(html, "logs/train/acc.tsv")
    assert acc.count("<polyline") == 2
    assert "errors" not in acc
    # Self-contained: no external script, stylesheet or URL at all.
    assert "http" not in html
    assert "<script src" not in html and "<link" not in html


def test_show_defaults_x_to_step_and_y_to_last_column(live_repo: Path) -> None:
    plots = collect({"workspace": WorkspaceTree(live_repo)}, ["logs/loss.tsv"])
    (plot,) = plots
    (series,) = plot.series
    assert (series.x_field, series.y_field) == ("step", "loss")
    assert series.points == [(0, 0.7), (1, 0.4), (2, 0.2), (3, 0.1)]
    page = plots_show(WorkspaceTree(live_repo), out_dir=live_repo / "out")
    assert page.name == "index.html" and "logs/train/acc.tsv" in page.read_text()


def test_json_gives_every_revision_data(live_repo: Path) -> None:
    git = Git(live_repo)
    data = plots_json({"workspace": WorkspaceTree(live_repo), "HEAD~1": git.tree("HEAD~1")}, ["logs"])
    (entry,) = data["data"]["logs/loss.tsv"]
    assert entry["type"] == "vega"
    assert entry["revisions"] == ["workspace", "HEAD~1"]
    values = entry["content"]["data"]["values"]
    assert [(v["rev"], v["step"], v["loss"]) for v in values if v["rev"] == "HEAD~1"] == [
        ("HEAD~1", 0, 0.9),
        ("HEAD~1", 1, 0.7),
        ("HEAD~1", 2, 0.5),
    ]
    assert entry["content"]["encoding"]["y"]["field"] == "loss"
    assert data["data"]["logs/train/acc.tsv"][0]["revisions"] == ["workspace"]
    json.dumps(data)  # plain JSON


TOP_LEVEL = """\
plots:
  - train.json:
      x: epoch
      y: loss
  - Loss:
      template: smooth
      x: epoch
      y:
        train.json: loss
        eval.json: loss
  - Accuracy:
      y:
        eval.json: [acc, top5]
      title: Accuracy by epoch
      y_label: accuracy
"""


def _records(field: str, values: list[float]) -> str:
    return json.dumps(
        {"history": [{"epoch": i + 1, field: v, "acc": v / 2, "top5": v / 3} for i, v in enumerate(values)]}
    )


def test_dvc3_top_level_syntax(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "dvc.yaml": TOP_LEVEL,
            "train.json": _records("loss", [3, 2, 1]),
            "eval.json": _records("loss", [4, 3, 2]),
        },
    )
    plots = {p.spec.id: p for p in collect({"workspace": WorkspaceTree(tmp_path)})}
    assert list(plots) == ["train.json", "Loss", "Accuracy"]
    assert plots["train.json"].series[0].points == [(1, 3), (2, 2), (3, 1)]
    assert [(s.source.file, s.y_field) for s in plots["Loss"].series] == [
        ("train.json", "loss"),
        ("eval.json", "loss"),
    ]
    assert plots["Accuracy"].title == "Accuracy by epoch" and plots["Accuracy"].y_label == "accuracy"
    assert [s.y_field for s in plots["Accuracy"].series] == ["acc", "top5"]
    # Without an x in the definition, x is the row number ("step", as DVC names it).
    assert plots["Accuracy"].series[0].points[0] == (0, 2)

    html = plots_show(WorkspaceTree(tmp_path), out_dir=tmp_path / "dvc_plots").read_text()
    smooth = figure(html, "Loss")
    assert smooth.count("<polyline") == 4  # raw (faint) + trend, for each of the two sources
    assert "train.json::loss" in smooth and "eval.json::loss" in smooth

    data = plots_json({"workspace": WorkspaceTree(tmp_path)})
    values = data["data"]["Loss"][0]["content"]["data"]["values"]
    assert {v["filename::field"] for v in values} == {"train.json::loss", "eval.json::loss"}
    assert values[0]["dvc_inferred_y_value"] == 3


def test_scatter_bar_and_confusion_templates(tmp_path: Path) -> None:
    predictions = [
        {"actual": "cat", "predicted": "cat"},
        {"actual": "cat", "predicted": "dog"},
        {"actual": "dog", "predicted": "dog"},
        {"actual": "dog", "predicted": "dog"},
    ]
    write_files(
        tmp_path,
        {
            "dvc.yaml": (
                "stages:\n  eval:\n    cmd: python eval.py\n    plots:\n"
                "      - classes.json:\n          template: confusion\n          cache: false\n"
                "      - points.csv:\n          template: scatter\n          x: a\n          y: b\n"
                "      - importance.yaml:\n          template: bar_horizontal\n"
            ),
            "classes.json": json.dumps(predictions),
            "points.csv": "a,b\n1,2\n3,5\n4,1\n",
            "importance.yaml": "features:\n  - {name: age, weight: 0.5}\n  - {name: income, weight: 0.3}\n",
        },
    )
    html = plots_show(WorkspaceTree(tmp_path), out_dir=tmp_path / "dvc_plots").read_text()
    confusion = figure(html, "classes.json")
    cells = re.findall(r"data-tip=\"workspace · actual=(\w+) · predicted=(\w+) · (\d+)\"", confusion)
    assert sorted(cells) == [
        ("cat", "cat", "1"),
        ("cat", "dog", "1"),
        ("dog", "cat", "0"),
        ("dog", "dog", "2"),
    ]
    scatter = figure(html, "points.csv")
    assert scatter.count("<circle") == 3 and "<polyline" not in scatter
    assert "a=3 · b=5" in scatter
    bar = figure(html, "importance.yaml")
    assert re.findall(r'data-tip="workspace · (\w+) · ([\d.]+)"', bar) == [("age", "0.5"), ("income", "0.3")]


def test_targets_props_and_undeclared_files(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "dvc.yaml": LIVE_DVC_YAML,
            "logs/loss.tsv": tsv("loss", [1, 2]),
            "extra/curve.csv": "x,y,z\r\n1,10,100\r\n2,20,200\r\n",
        },
    )
    tree = {"workspace": WorkspaceTree(tmp_path)}
    (curve,) = collect(tree, ["extra/curve.csv"])
    assert (curve.series[0].y_field, curve.series[0].points) == ("z", [(0, 100), (1, 200)])
    (overridden,) = collect(
        tree, ["extra/curve.csv"], {"x": "x", "y": "y", "template": "scatter", "title": "T"}
    )
    assert overridden.series[0].points == [(1, 10), (2, 20)]
    assert (overridden.spec.template, overridden.title) == ("scatter", "T")
    assert [p.spec.id for p in collect(tree, ["logs"])] == ["logs/loss.tsv"]
    with pytest.raises(YAMLFileError, match="unknown plot template 'pie'"):
        collect(tree, ["logs"], {"template": "pie"})


def test_missing_field_is_reported_per_revision(tmp_path: Path) -> None:
    write_files(tmp_path, {"dvc.yaml": "plots:\n  - m.json:\n      y: nope\n", "m.json": '[{"a": 1}]'})
    (plot,) = collect({"workspace": WorkspaceTree(tmp_path)})
    assert plot.errors == ["workspace: field 'nope' not found in 'm.json'"]
    data = plots_json({"workspace": WorkspaceTree(tmp_path)})
    assert data["errors"] == [{"name": "m.json", "msg": "workspace: field 'nope' not found in 'm.json'"}]
    html = plots_show(WorkspaceTree(tmp_path), out_dir=tmp_path / "dvc_plots").read_text()
    assert "field &#x27;nope&#x27; not found" in html
