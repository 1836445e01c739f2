"""The notebook widgets without a kernel: model state, messages to and from the front end, fallbacks.

The front end is stood in for at the comm layer: ``comm.create_comm`` is the hook ipykernel itself
replaces, so the widgets run unchanged and every message they would put on the wire is recorded;
front-end messages go in through ``Widget._handle_msg``, the path a kernel uses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import comm
import pytest
from comm.base_comm import BaseComm

from jupyter_exp.experiments.table import ExpRow, ExpTable, format_value
from jupyter_exp.notebook.widgets import ExperimentsTable, LiveMetricsPlot
from jupyter_exp.notebook.widgets.live_plot import downsample

REPO_ROOT = Path(__file__).resolve().parents[2]
WIDGETS = REPO_ROOT / "jupyter_exp" / "notebook" / "widgets"
NODE = shutil.which("node") or "node"


class RecordingComm(BaseComm):
    """A comm whose wire is a list: what the kernel would send to the browser, with a timestamp."""

    def __init__(self, sink: list[tuple[float, str, dict[str, Any]]], **kwargs: Any) -> None:
        self.sink = sink
        super().__init__(**kwargs)

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None,
                    **keys: Any) -> None:
        self.sink.append((time.monotonic(), msg_type, data or {}))


class FrontEnd:
    def __init__(self) -> None:
        self.wire: list[tuple[float, str, dict[str, Any]]] = []

    def custom(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Custom messages the kernel sent, oldest first."""
        found = [data["content"] for _, msg, data in self.wire if msg == "comm_msg" and data.get("method") == "custom"]
        return [c for c in found if kind is None or c.get("type") == kind]

    def timed(self, kind: str) -> list[tuple[float, dict[str, Any]]]:
        return [(t, data["content"]) for t, msg, data in self.wire
                if msg == "comm_msg" and data.get("method") == "custom" and data["content"].get("type") == kind]

    @staticmethod
    def send(widget: Any, content: dict[str, Any]) -> None:
        """A ``model.send(content)`` from the browser."""
        widget._handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})

    @staticmethod
    def save(widget: Any, **state: Any) -> None:
        """``model.set(...); model.save_changes()`` from the browser."""
        widget._handle_msg({"content": {"data": {"method": "update", "state": state}}, "buffers": []})


@pytest.fixture
def frontend(monkeypatch: pytest.MonkeyPatch) -> FrontEnd:
    front = FrontEnd()
    monkeypatch.setattr(comm, "create_comm", lambda **kwargs: RecordingComm(front.wire, **kwargs))
    return front


# -- live plot ---------------------------------------------------------------------------------
def write(path: Path, text: str, mode: str = "a") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, mode, newline="") as fobj:
        fobj.write(text)


def test_poll_reads_complete_lines_only_crlf_and_nested_metrics(tmp_path: Path, frontend: FrontEnd) -> None:
    write(tmp_path / "loss.tsv", "timestamp\tstep\tloss\r\n1\t0\t1.5\r\n2\t1\t0.75\r\n3\t2\t0.5")
    write(tmp_path / "train" / "acc.tsv", "timestamp\tstep\tacc\n1\t0\t0.25\n")
    plot = LiveMetricsPlot(tmp_path)

    assert plot.poll() is True
    assert plot.metrics() == ["loss", "train/acc"]
    assert plot.points("loss") == [(0, 1.5), (1, 0.75)]  # the half-written third line waits
    assert frontend.custom("points")[-1]["series"] == {"loss": [[0, 1.5], [1, 0.75]], "train/acc": [[0, 0.25]]}

    assert plot.poll() is False  # nothing new: nothing read, nothing sent
    assert len(frontend.custom("points")) == 1

    write(tmp_path / "loss.tsv", "\r\n4\t3\t0.25\r\n")
    assert plot.poll() is True
    assert frontend.custom("points")[-1]["series"] == {"loss": [[2, 0.5], [3, 0.25]]}  # only the new points
    assert [v for _, v in plot.points("loss")] == [1.5, 0.75, 0.5, 0.25]


def test_a_restarted_run_replaces_the_curve(tmp_path: Path, frontend: FrontEnd) -> None:
    write(tmp_path / "loss.tsv", "timestamp\tstep\tloss\n" + "".join(f"{i}\t{i}\t{i}\n" for i in range(50)))
    plot = LiveMetricsPlot(tmp_path)
    plot.poll()
    write(tmp_path / "loss.tsv", "timestamp\tstep\tloss\n1\t0\t9\n", mode="w")
    plot.poll()
    assert plot.points("loss") == [(0, 9)]
    assert frontend.custom()[-1] == {"type": "reset", "series": {"loss": [[0, 9]]}}


def test_malformed_file_is_reported_and_the_others_still_plot(tmp_path: Path, frontend: FrontEnd) -> None:
    write(tmp_path / "loss.tsv", "timestamp\tstep\tloss\n1\t0\t0.5\n")
    write(tmp_path / "acc.tsv", "timestamp\tstep\tacc\nnot a row\n")
    plot = LiveMetricsPlot(tmp_path)
    plot.poll()
    assert plot.metrics() == ["loss"]
    assert "acc.tsv" in plot.errors["acc"]
    assert "acc: not read" in plot.to_text()


def test_front_end_connecting_mid_run_gets_the_whole_curve(tmp_path: Path, frontend: FrontEnd) -> None:
    write(tmp_path / "loss.tsv", "timestamp\tstep\tloss\n1\t0\t2\n2\t1\t1\n")
    plot = LiveMetricsPlot(tmp_path)
    plot.poll()
    FrontEnd.send(plot, {"type": "sync"})
    assert frontend.custom()[-1] == {"type": "reset", "series": {"loss": [[0, 2], [1, 1]]}}


def test_downsample_bounds_size_and_keeps_extremes_and_last_point() -> None:
    steps = [float(i) for i in range(100_000)]
    values = [((i * 7919) % 1000) / 10 for i in range(100_000)]
    values[31_337], values[77_777] = -50.0, 500.0
    kept = downsample(steps, values, 400)
    assert len(kept) <= 401
    kept_values = [v for _, v in kept]
    assert min(kept_values) == -50 and max(kept_values) == 500
    assert kept[-1] == [99_999, values[-1]]
    assert [s for s, _ in kept] == sorted(s for s, _ in kept)


TRAINER = """
import sys, time
from jupyter_exp.live import Live
with Live(sys.argv[1], report=None) as live:
    for step in range(int(sys.argv[2])):
        live.log_metric("loss", 1.0 / (step + 1))
        live.log_metric("train/acc", step / 100)
        live.next_step()
        time.sleep(0.05)
"""


def test_live_plot_follows_a_training_process_and_stops_when_it_ends(tmp_path: Path, frontend: FrontEnd) -> None:
    steps = 40
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", TRAINER, str(tmp_path / "logs"), str(steps)], env=env)
    plot = LiveMetricsPlot(tmp_path / "logs", interval=0.2)
    plot.start(until=lambda: proc.poll() is not None)
    assert plot.running
    proc.wait(timeout=30)
    plot._thread.join(timeout=5)

    assert not plot._thread.is_alive() and not plot.running  # stopped by itself
    assert plot.points("loss") == [(s, 1.0 / (s + 1)) for s in range(steps)]
    assert plot.series["train/acc"][-1] == [steps - 1, (steps - 1) / 100]

    deltas = frontend.timed("points")
    assert len(deltas) >= 5  # the curve grew while the run went on
    delivered = [p for _, msg in deltas for p in msg["series"].get("loss", [])]
    assert len(delivered) == steps  # every point sent once: only new bytes are read
    gaps = [b - a for (a, _), (b, _) in zip(deltas, deltas[1:], strict=False)]
    assert max(gaps) < 1.0  # updates at least once a second


def test_stop_ends_the_thread_and_publishes_the_final_snapshot(tmp_path: Path, frontend: FrontEnd) -> None:
    write(tmp_path / "loss.tsv", "timestamp\tstep\tloss\n")
    plot = LiveMetricsPlot(tmp_path, interval=0.05).start(until=threading.Event())
    write(tmp_path / "loss.tsv", "1\t0\t0.5\n")
    plot.stop()
    assert not plot._thread.is_alive()
    assert plot.series == {"loss": [[0, 0.5]]} and plot.running is False


def test_plot_mimebundle_has_widget_view_inline_svg_and_text(tmp_path: Path) -> None:
    write(tmp_path / "loss.tsv", "timestamp\tstep\tloss\n" + "".join(f"{i}\t{i}\t{1 / (i + 1)}\n" for i in range(10)))
    write(tmp_path / "train" / "acc.tsv", "timestamp\tstep\tacc\n1\t0\t0.5\n")
    plot = LiveMetricsPlot(tmp_path, title="training")
    plot.poll()
    data, _ = plot._repr_mimebundle_()
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == plot.model_id
    page = data["text/html"]
    assert page.count("<svg") == 2 and 'data-metric="train/acc"' in page and "<polyline" in page
    assert "<script" not in page
    assert data["text/plain"].splitlines() == ["Live metrics: training", "  loss: 0.1 (step 9)", "  train/acc: 0.5 (step 0)"]


# -- experiments table -------------------------------------------------------------------------
BASE = "b" * 40
DEV = "d" * 40


def sha(n: int) -> str:
    return f"{n:040x}"


def row(rev: str, name: str | None, kind: str, *, lr: float | None = None, seed: int = 1, loss: float | None = None,
        acc: float | None = None, baseline: str | None = BASE, tip: str | None = None, label: str | None = None,
        day: int = 1) -> ExpRow:
    params = {"params.yaml": {"lr": lr, "seed": seed}} if lr is not None else {}
    metrics = {"metrics.json": {k: v for k, v in (("loss", loss), ("acc", acc)) if v is not None}}
    return ExpRow(rev=rev, name=name, kind=kind, baseline=baseline, parent=baseline,
                  created=datetime(2024, 1, day, tzinfo=timezone.utc), params=params,
                  metrics=metrics if metrics["metrics.json"] else {}, glyph="" if kind in ("workspace", "baseline") else "├── ",
                  label=label or name or rev[:7], checkpoint_tip=tip)


def sample_table() -> ExpTable:
    return ExpTable([
        row("workspace", None, "workspace", lr=0.1, loss=0.5, acc=0.7, baseline=None, label="workspace"),
        row(BASE, "main", "baseline", lr=0.1, loss=0.5, acc=0.7),
        row(sha(1), "exp-one", "experiment", lr=0.3, loss=0.2, acc=0.9, day=2),
        row(sha(2), "exp-chain", "experiment", lr=0.01, loss=0.4, acc=0.8, tip=sha(2), day=3),
        row(sha(3), None, "checkpoint", lr=0.01, loss=0.6, acc=0.6, tip=sha(2), day=3),
        row(sha(4), None, "checkpoint", lr=0.01, loss=0.9, acc=0.3, tip=sha(2), day=3),
        row(sha(5), "exp-queued", "queued", lr=0.05, day=4),
        row(DEV, "dev", "baseline", lr=0.2, loss=0.45, acc=0.75, baseline=DEV),
        row(sha(6), "exp-dev-b", "experiment", lr=0.2, loss=0.1, acc=0.95, baseline=DEV, day=5),
        row(sha(7), "exp-dev-a", "experiment", lr=0.2, loss=0.3, acc=0.85, baseline=DEV, day=6),
    ])


LOSS, ACC = "metrics:metrics.json:loss", "metrics:metrics.json:acc"
LR, SEED = "params:params.yaml:lr", "params:params.yaml:seed"


def labels(table: ExperimentsTable) -> list[str]:
    return [r["label"] for r in table.visible_rows()]


def test_table_model_columns_and_best_values() -> None:
    table = ExperimentsTable(sample_table())
    assert [c["id"] for c in table.columns] == ["Experiment", "Created", LOSS, ACC, LR, SEED]
    assert table.visible_columns == [c["id"] for c in table.columns]
    assert table.best == {LOSS: 0.1, ACC: 0.95}  # loss: lower is better; acc: higher
    table.objectives = {"loss": "max"}
    assert table.best[LOSS] == 0.9
    assert labels(table) == ["workspace", "main", "exp-one", "exp-chain", sha(3)[:7], sha(4)[:7],
                             "exp-queued", "dev", "exp-dev-b", "exp-dev-a"]


def test_sort_keeps_baselines_and_checkpoint_chains_and_puts_missing_last(frontend: FrontEnd) -> None:
    table = ExperimentsTable(sample_table())
    FrontEnd.save(table, sort_by=LOSS, sort_desc=False)  # a header click in the browser
    assert table.sort_by == LOSS
    assert labels(table) == ["workspace", "main", "exp-one", "exp-chain", sha(3)[:7], sha(4)[:7],
                             "exp-queued", "dev", "exp-dev-b", "exp-dev-a"]
    table.sort(LOSS, descending=True)
    assert labels(table) == ["workspace", "main", "exp-chain", sha(3)[:7], sha(4)[:7], "exp-one",
                             "exp-queued", "dev", "exp-dev-a", "exp-dev-b"]
    table.sort("Experiment")
    assert labels(table)[7:] == ["dev", "exp-dev-a", "exp-dev-b"]


def test_filter_by_text_and_by_comparison() -> None:
    table = ExperimentsTable(sample_table())
    table.filter_text = "dev-a"
    assert labels(table) == ["workspace", "main", "dev", "exp-dev-a"]
    table.filter_text = "loss<0.35"
    assert labels(table) == ["workspace", "main", "exp-one", "dev", "exp-dev-b", "exp-dev-a"]
    table.filter_text = "lr >= 0.05"
    assert labels(table) == ["workspace", "main", "exp-one", "exp-queued", "dev", "exp-dev-b", "exp-dev-a"]
    table.filter_text = "loss > 0.8"  # a chain shows when one of its checkpoints matches
    assert labels(table) == ["workspace", "main", "exp-chain", sha(3)[:7], sha(4)[:7], "dev"]


def test_column_choice_only_changed_and_collapse(frontend: FrontEnd) -> None:
    table = ExperimentsTable(sample_table())
    FrontEnd.save(table, visible_columns=["Experiment", LOSS, LR, SEED])
    assert [c["id"] for c in table.shown_columns()] == ["Experiment", LOSS, LR, SEED]
    FrontEnd.save(table, only_changed=True)
    assert [c["id"] for c in table.shown_columns()] == ["Experiment", LOSS, LR]  # seed is 1 everywhere
    FrontEnd.save(table, collapsed=[sha(2)])
    assert sha(3)[:7] not in labels(table) and "exp-chain" in labels(table)
    html = table._repr_html_()
    assert 'data-col="params:params.yaml:seed"' not in html and f'data-rev="{sha(3)}"' not in html


def test_refresh_keeps_the_users_view_and_shows_new_columns() -> None:
    table = ExperimentsTable(sample_table())
    table.visible_columns = ["Experiment", LOSS]
    table.selected = [sha(1), sha(6)]
    table.sort(ACC, descending=True)
    grown = sample_table()
    grown.rows = [r for r in grown.rows if r.rev != sha(6)]
    grown.rows.append(row(sha(8), "exp-new", "experiment", lr=0.7, loss=0.05, acc=0.99, day=7))
    grown.rows[-1].metrics["metrics.json"]["f1"] = 0.5
    table.set_table(grown)
    assert table.visible_columns == ["Experiment", LOSS, "metrics:metrics.json:f1"]
    assert table.selected == [sha(1)]
    assert labels(table)[2] == "exp-new" and table.best[LOSS] == 0.05


def test_custom_callbacks_and_errors_without_a_repo() -> None:
    seen = []
    table = ExperimentsTable(sample_table(), actions={"compare": lambda revs: seen.append(revs) or "ok"})
    table.selected = [sha(6), sha(7)]
    assert table.run_action("compare") == "ok"
    assert seen == [[sha(6), sha(7)]] and table.output == "<pre>ok</pre>"
    assert table.run_action("apply", [sha(1)]) is None
    assert "no handler for 'apply'" in table.output and table.last_error is not None


def test_table_fallbacks_html_and_text() -> None:
    table = ExperimentsTable(sample_table())
    table.sort(LOSS)
    data, _ = table._repr_mimebundle_()
    html = data["text/html"]
    assert html.startswith('<table class="jx-table jx-static">')
    assert f'<th data-col="{LOSS}" title="metrics.json">loss</th>' in html
    assert "<td><b>0.1</b></td>" in html  # the best loss is highlighted
    assert html.index(f'data-rev="{sha(6)}"') < html.index(f'data-rev="{sha(7)}"')
    text = data["text/plain"].splitlines()
    assert text[0].split() == ["Experiment", "Created", "loss", "acc", "lr", "seed"]
    assert text[1].split()[:3] == ["workspace", "-", "0.5"]
    assert "application/vnd.jupyter.widget-view+json" in data


# -- the ES modules ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["live_plot.js", "table.js"])
def test_es_modules_are_valid_javascript(tmp_path: Path, name: str) -> None:
    module = tmp_path / name.replace(".js", ".mjs")
    shutil.copy(WIDGETS / name, module)
    result = subprocess.run([NODE, "--check", str(module)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_browser_is_sent_the_kernels_row_order(frontend: FrontEnd) -> None:
    """table.js sorts and filters nothing itself: each choice it saves comes back as the order to draw."""
    table = ExperimentsTable(sample_table())
    views = [dict(sort_by=LOSS), dict(sort_by=LOSS, sort_desc=True), dict(sort_by="Created", sort_desc=True),
             dict(sort_by=ACC, filter_text="acc>=0.8"), dict(filter_text="chain", collapsed=[sha(2)]),
             dict(sort_by=LR, filter_text="lr<0.1"), dict(sort_by="Experiment", filter_text="EXP-DEV")]
    for view in views:
        FrontEnd.save(table, **{"sort_by": "", "sort_desc": False, "filter_text": "", "collapsed": [], **view})
        sent = [data["state"] for _, msg, data in frontend.wire
                if msg == "comm_msg" and "order_json" in data.get("state", {})]
        drawn = [table.rows[i]["rev"] for i in json.loads(sent[-1]["order_json"])]
        assert drawn == [r["rev"] for r in table.visible_rows()], view
        # the header is marked with the sort these rows are in, sent in the same message as they are
        assert json.loads(table.order_sort) == [view.get("sort_by", ""), view.get("sort_desc", False)]
    assert drawn == ["workspace", BASE, DEV, sha(7), sha(6)]  # the last view: by name, "exp-dev" only


def test_browser_prints_numbers_as_the_kernel_does(tmp_path: Path) -> None:
    module = tmp_path / "table.mjs"
    shutil.copy(WIDGETS / "table.js", module)
    numbers = [0.1, 123456.7, 1e-7, 0.00012345678, 2.5, -3.14159265, 99999.5, 0.30000000000000004, 1234.5678, 3.0]
    script = (f"import {{ formatNumber }} from {json.dumps(module.as_uri())};\n"
              "import { readFileSync } from 'node:fs';\n"
              "console.log(JSON.stringify(JSON.parse(readFileSync(0, 'utf8')).map(formatNumber)));\n")
    result = subprocess.run([NODE, "--input-type=module", "-e", script], input=json.dumps(numbers),
                            capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == [format_value(n) for n in numbers]
