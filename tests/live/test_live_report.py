"""The HTML report: one offline file, a table and an SVG plot per metric, refreshing while running."""

from __future__ import annotations

import re
from pathlib import Path

from jupyter_exp.live import Live
from jupyter_exp.live.report import Downsampled, PlotSeries, render_report


def test_report_is_self_contained_with_a_plot_per_metric(tmp_path: Path) -> None:
    live = Live(tmp_path / "logs")
    for i in range(20):
        live.log_metric("train/loss", 1.0 / (i + 1))
        live.log_metric("val/<acc>", i / 20)
        live.next_step()
    live.flush()
    running = (tmp_path / "logs.html").read_text()
    assert '<meta http-equiv="refresh" content="5">' in running
    live.end()
    html = (tmp_path / "logs.html").read_text()
    assert "http-equiv" not in html and "finished" in html
    assert "<script" not in html and "<link" not in html
    assert re.findall(r"https?://[^\"']+", html) == ["http://www.w3.org/2000/svg"] * 2  # SVG namespace only
    assert html.count("<svg") == 2 and html.count("<polyline") == 2
    assert "val/&lt;acc&gt;" in html and "<acc>" not in html
    assert "<td>train/loss</td><td>19</td><td>0.05</td>" in html
    assert "step 19" in html


def test_report_is_redrawn_at_most_about_once_a_second(tmp_path: Path) -> None:
    with Live(tmp_path / "logs") as live:
        for i in range(300):  # a few ms: only the first step draws the report
            live.log_metric("m", float(i))
            live.next_step()
        live.flush()
        assert "step 0 " in (tmp_path / "logs.html").read_text()
    assert "step 299 " in (tmp_path / "logs.html").read_text()


def test_non_finite_values_break_the_line_and_show_in_the_table() -> None:
    points = [(0, 1.0), (1, 2.0), (2, float("nan")), (3, 3.0), (4, 2.0)]
    html = render_report([PlotSeries("m", points, 4, float("inf"))], step=4, running=False)
    assert html.count("<polyline") == 2
    assert "<td>inf</td>" in html
    empty = render_report([PlotSeries("m", [(0, float("nan"))], 0, float("nan"))], step=0, running=True)
    assert "no finite values yet" in empty


def test_downsampling_keeps_a_bounded_evenly_spaced_series() -> None:
    series = Downsampled(limit=100)
    for step in range(100_000):
        series.add(step, float(step))
    steps = [s for s, _ in series.points]
    assert 100 <= len(steps) <= 200
    assert steps[0] == 0
    gaps = {b - a for a, b in zip(steps, steps[1:], strict=False)}
    assert gaps == {series.stride}
    assert steps[-1] > 100_000 - 2 * series.stride
