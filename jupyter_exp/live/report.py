"""The live HTML report: one self-contained offline page with a table of last values and an inline
SVG line plot per metric. No scripts, no CDN: it opens from disk, in a notebook output, or in CI
artifacts alike. While the run goes on the page asks the browser to reload itself every few seconds.

Imported lazily by the logger (only when a report is due), so it costs nothing at ``import``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from html import escape
from typing import NamedTuple

REFRESH_SECONDS = 5
WIDTH, HEIGHT = 460, 240
LEFT, RIGHT, TOP, BOTTOM = 62, 14, 12, 34


class PlotSeries(NamedTuple):
    """A metric to draw: its name, (step, value) points (already downsampled) and its last value."""

    name: str
    points: Sequence[tuple[int, float]]
    last_step: int
    last_value: float


def render_report(series: Sequence[PlotSeries], *, step: int, running: bool, title: str = "Live metrics") -> str:
    """The whole HTML page as a string."""
    refresh = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">\n' if running else ""
    state = "running" if running else "finished"
    updated = time.strftime("%Y-%m-%d %H:%M:%S")
    rows = "\n".join(
        f"<tr><td>{escape(s.name)}</td><td>{s.last_step}</td><td>{_fmt(s.last_value)}</td></tr>" for s in series
    )
    plots = "\n".join(_plot(s) for s in series)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
{refresh}<title>{escape(title)}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
.plots {{ display: flex; flex-wrap: wrap; gap: 16px; }}
figure {{ margin: 0; border: 1px solid #ddd; padding: 6px; }}
figcaption {{ font-weight: 600; margin-bottom: 4px; }}
svg text {{ font-size: 11px; fill: #555; }}
.meta {{ color: #666; font-size: 90%; }}
</style>
</head>
<body>
<h1>{escape(title)}</h1>
<p class="meta">step {step} &middot; {state} &middot; updated {updated}</p>
<table>
<thead><tr><th>metric</th><th>step</th><th>value</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<div class="plots">
{plots}
</div>
</body>
</html>
"""


def _fmt(value: float) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.6g}"


def _plot(series: PlotSeries) -> str:
    finite = [(x, y) for x, y in series.points if math.isfinite(y)]
    name = escape(series.name)
    if not finite:
        body = f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no finite values yet</text>'
    else:
        body = _axes_and_line(series.points, finite)
    return (
        f'<figure><figcaption>{name}</figcaption>'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{name}">{body}</svg></figure>'
    )


def _axes_and_line(points: Sequence[tuple[int, float]], finite: list[tuple[int, float]]) -> str:
    x_min, x_max = finite[0][0], finite[0][0]
    y_min, y_max = finite[0][1], finite[0][1]
    for x, y in finite:
        x_min, x_max = min(x_min, x), max(x_max, x)
        y_min, y_max = min(y_min, y), max(y_max, y)
    if x_max == x_min:
        x_max = x_min + 1
    if y_max == y_min:
        pad = abs(y_min) * 0.05 or 1.0
        y_min, y_max = y_min - pad, y_max + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + (x - x_min) / (x_max - x_min) * plot_w

    def sy(y: float) -> float:
        return TOP + (y_max - y) / (y_max - y_min) * plot_h

    parts = [f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#bbb"/>']
    for i in range(5):
        y = y_min + (y_max - y_min) * i / 4
        py = sy(y)
        parts.append(f'<line x1="{LEFT}" y1="{py:.1f}" x2="{LEFT + plot_w}" y2="{py:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{py + 4:.1f}" text-anchor="end">{y:.4g}</text>')
    for i in range(3):
        x = x_min + (x_max - x_min) * i / 2
        anchor = ("start", "middle", "end")[i]
        parts.append(f'<text x="{sx(x):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="{anchor}">{x:.6g}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 3}" text-anchor="middle">step</text>')
    # Non-finite values break the line rather than being drawn at a made-up height.
    x_scale, y_scale = plot_w / (x_max - x_min), plot_h / (y_max - y_min)
    x_off, y_off = LEFT - x_min * x_scale, TOP + y_max * y_scale
    isfinite = math.isfinite
    segments: list[list[str]] = [[]]
    for x, y in points:
        if isfinite(y):
            segments[-1].append("%.1f,%.1f" % (x_off + x * x_scale, y_off - y * y_scale))  # noqa: UP031 - hot loop
        elif segments[-1]:
            segments.append([])
    for segment in segments:
        if len(segment) == 1:
            cx, cy = segment[0].split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="#1f77b4"/>')
        elif segment:
            parts.append(
                f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.6" points="{" ".join(segment)}"/>'
            )
    return "".join(parts)


class Downsampled:
    """A bounded, evenly thinned copy of a growing series, for plotting.

    Keeps every ``stride``-th point; when more than ``2 * limit`` are kept it drops every other one and
    doubles the stride. Appending is O(1) amortised and the kept size never exceeds ``2 * limit``, so
    drawing the report costs the same at step 10 and at step 10 million.
    """

    __slots__ = ("points", "stride", "seen", "limit")

    def __init__(self, limit: int = 300) -> None:
        self.points: list[tuple[int, float]] = []
        self.stride = 1
        self.seen = 0
        self.limit = limit

    def add(self, step: int, value: float) -> None:
        if self.seen % self.stride == 0:
            self.points.append((step, value))
            if len(self.points) > 2 * self.limit:
                self.points = self.points[::2]
                self.stride *= 2
        self.seen += 1
