"""The five templates drawn as inline SVG, so a plots page needs no script library and no network.

Each revision's series gets its own colour (in the order the revisions were given) and a legend
entry; points carry a ``data-tip`` the page's few lines of JS show on hover (and an SVG
``<title>``, which browsers show even without JS).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

from jupyter_exp.plots.collect import PlotData, Series

PALETTE = (
    "#945dd6", "#13adc7", "#f46837", "#48bb78", "#4299e1",
    "#ed8936", "#f56565", "#38b2ac", "#d53f8c", "#718096",
)  # fmt: skip
WIDTH, HEIGHT = 560, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 14, 46
MAX_MARKERS = 300  # hover targets per series; lines still use every point


def fmt(value: Any) -> str:
    """Short text for a number on an axis or in a tooltip."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def series_label(plot: PlotData, series: Series) -> str:
    """The legend text: the revision, plus ``file::field`` when the plot draws several sources."""
    if len(plot.spec.sources) > 1:
        return f"{series.rev}: {series.source.file}::{series.y_field}"
    return series.rev


def colors(plot: PlotData) -> list[str]:
    return [PALETTE[i % len(PALETTE)] for i in range(len(plot.series))]


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[lo, hi]`` (steps of 1, 2 or 5 times a power of ten)."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _domain(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if lo == hi:
        pad = abs(lo) * 0.1 or 1.0
        return lo - pad, hi + pad
    return lo, hi


class _Axis:
    """A linear map from data values to pixels, with its ticks (or category labels)."""

    def __init__(self, lo: float, hi: float, start: float, end: float, labels: Sequence[str] | None = None):
        self.lo, self.hi, self.start, self.end = lo, hi, start, end
        self.labels = labels

    def __call__(self, value: float) -> float:
        return self.start + (value - self.lo) / (self.hi - self.lo) * (self.end - self.start)

    def ticks(self) -> list[tuple[float, str]]:
        if self.labels is not None:
            stride = max(1, math.ceil(len(self.labels) / 10))
            return [(float(i), label) for i, label in enumerate(self.labels)][::stride]
        return [(t, fmt(t)) for t in nice_ticks(self.lo, self.hi)]


def _frame(x_axis: _Axis, y_axis: _Axis, x_label: str, y_label: str) -> list[str]:
    """Grid, tick labels and axis titles."""
    parts = []
    bottom, top = HEIGHT - BOTTOM, TOP
    for value, text in y_axis.ticks():
        y = y_axis(value)
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(text)}</text>')
    for value, text in x_axis.ticks():
        x = x_axis(value)
        parts.append(f'<line class="grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}"/>')
        parts.append(f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">{escape(text)}</text>')
    parts.append(f'<line class="axis" x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}"/>')
    parts.append(f'<line class="axis" x1="{LEFT}" y1="{top}" x2="{LEFT}" y2="{bottom}"/>')
    middle_x = (LEFT + WIDTH - RIGHT) / 2
    parts.append(
        f'<text class="title" x="{middle_x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{escape(x_label)}</text>'
    )
    middle_y = (top + bottom) / 2
    parts.append(
        f'<text class="title" transform="translate(14,{middle_y:.1f}) rotate(-90)" text-anchor="middle">'
        f"{escape(y_label)}</text>"
    )
    return parts


def _svg(body: Sequence[str], width: int = WIDTH, height: int = HEIGHT) -> str:
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}">' + "".join(body) + "</svg>"
    )


def _marker(x: float, y: float, color: str, tip: str, radius: float, visible: bool) -> str:
    opacity = "" if visible else ' fill-opacity="0"'
    return (
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{color}"{opacity} data-tip="{escape(tip)}">'
        f"<title>{escape(tip)}</title></circle>"
    )


def _xy_points(plot: PlotData) -> tuple[list[list[tuple[float, float, Any]]], list[str] | None]:
    """Per series, drawable ``(x, y, raw_x)``; x values that are not numbers become categories."""
    categorical = any(not _is_num(x) for s in plot.series for x, _ in s.points if x is not None)
    categories: dict[str, int] = {}
    out = []
    for series in plot.series:
        points = []
        for x, y in series.points:
            if not _is_num(y) or x is None:
                continue
            if categorical:
                position = float(categories.setdefault(str(x), len(categories)))
            elif _is_num(x):
                position = float(x)
            else:
                continue
            points.append((position, float(y), x))
        out.append(points)
    return out, (list(categories) if categorical else None)


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Centred moving average (the ``smooth`` template's trend line)."""
    half = window // 2
    prefix = [0.0]
    for value in values:
        prefix.append(prefix[-1] + value)
    out = []
    for i in range(len(values)):
        lo, hi = max(0, i - half), min(len(values), i + half + 1)
        out.append((prefix[hi] - prefix[lo]) / (hi - lo))
    return out


def _xy_plot(plot: PlotData, style: str) -> list[str]:
    per_series, categories = _xy_points(plot)
    xs = [p[0] for points in per_series for p in points]
    ys = [p[1] for points in per_series for p in points]
    if not xs:
        return []
    x_lo, x_hi = (-0.5, len(categories) - 0.5) if categories is not None else _domain(xs)
    y_lo, y_hi = _domain(ys)
    pad = (y_hi - y_lo) * 0.05
    x_axis = _Axis(x_lo, x_hi, LEFT, WIDTH - RIGHT, categories)
    y_axis = _Axis(y_lo - pad, y_hi + pad, HEIGHT - BOTTOM, TOP)
    body = _frame(x_axis, y_axis, plot.x_label, plot.y_label)
    for series, points, color in zip(plot.series, per_series, colors(plot), strict=True):
        if not points:
            continue
        label = series_label(plot, series)
        coords = [(x_axis(x), y_axis(y)) for x, y, _ in points]
        if style in ("linear", "smooth"):
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            faint = ' stroke-opacity="0.25"' if style == "smooth" else ""
            body.append(f'<polyline class="line" stroke="{color}"{faint} points="{path}"/>')
        if style == "smooth":
            window = max(1, round(len(points) * 0.05)) | 1
            trend = moving_average([y for _, y, _ in points], window)
            path = " ".join(
                f"{x_axis(x):.1f},{y_axis(y):.1f}" for (x, _, _), y in zip(points, trend, strict=True)
            )
            body.append(f'<polyline class="line" stroke="{color}" points="{path}"/>')
        stride = 1 if style == "scatter" else max(1, math.ceil(len(points) / MAX_MARKERS))
        for (px, py), (_, y, raw_x) in list(zip(coords, points, strict=True))[::stride]:
            tip = f"{label} · {series.x_field}={fmt(raw_x)} · {series.y_field}={fmt(y)}"
            body.append(_marker(px, py, color, tip, 3 if style == "scatter" else 4, style == "scatter"))
    return [_svg(body)]


def _bar_plot(plot: PlotData) -> list[str]:
    categories: dict[str, int] = {}
    bars = []
    for index, series in enumerate(plot.series):
        for x, y in series.points:
            if _is_num(y):
                bars.append((index, categories.setdefault(str(x), len(categories)), float(y)))
    if not bars:
        return []
    values = [0.0] + [y for _, _, y in bars]
    y_lo, y_hi = _domain(values)
    pad = (y_hi - y_lo) * 0.05
    y_axis = _Axis(y_lo - (pad if y_lo < 0 else 0), y_hi + (pad if y_hi > 0 else 0), HEIGHT - BOTTOM, TOP)
    x_axis = _Axis(-0.5, len(categories) - 0.5, LEFT, WIDTH - RIGHT, list(categories))
    body = _frame(x_axis, y_axis, plot.x_label, plot.y_label)
    slot = (x_axis(1) - x_axis(0)) * 0.8
    width = slot / max(1, len(plot.series))
    palette = colors(plot)
    names = list(categories)
    for index, position, value in bars:
        left = x_axis(position) - slot / 2 + index * width
        top, base = sorted((y_axis(value), y_axis(0.0)))
        tip = f"{series_label(plot, plot.series[index])} · {names[position]} · {fmt(value)}"
        body.append(
            f'<rect x="{left:.1f}" y="{top:.1f}" width="{width:.1f}" height="{max(base - top, 0.5):.1f}" '
            f'fill="{palette[index]}" data-tip="{escape(tip)}"><title>{escape(tip)}</title></rect>'
        )
    return [_svg(body)]


def _confusion_plot(plot: PlotData) -> list[str]:
    """One matrix per series: actual classes down, predicted across, counts in the cells."""
    classes = sorted({str(v) for s in plot.series for point in s.points for v in point})
    if not classes:
        return []
    cell = max(18, min(48, 360 // len(classes)))
    size = LEFT + cell * len(classes) + RIGHT
    svgs = []
    for series, color in zip(plot.series, colors(plot), strict=True):
        counts: dict[tuple[str, str], int] = {}
        for actual, predicted in series.points:
            key = (str(actual), str(predicted))
            counts[key] = counts.get(key, 0) + 1
        most = max(counts.values(), default=1)
        body = [f'<text class="title" x="{LEFT}" y="14">{escape(series_label(plot, series))}</text>']
        top = TOP + 20
        for row, actual in enumerate(classes):
            y = top + row * cell
            body.append(
                f'<text x="{LEFT - 6}" y="{y + cell / 2 + 4:.1f}" text-anchor="end">{escape(actual)}</text>'
            )
            for col, predicted in enumerate(classes):
                x = LEFT + col * cell
                count = counts.get((actual, predicted), 0)
                tip = f"{series.rev} · {series.x_field}={actual} · {series.y_field}={predicted} · {count}"
                body.append(
                    f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{color}" '
                    f'fill-opacity="{0.08 + 0.92 * count / most:.3f}" stroke="#fff" data-tip="{escape(tip)}">'
                    f"<title>{escape(tip)}</title></rect>"
                    f'<text x="{x + cell / 2}" y="{y + cell / 2 + 4:.1f}" text-anchor="middle">{count}</text>'
                )
        bottom = top + cell * len(classes)
        for col, predicted in enumerate(classes):
            x = LEFT + col * cell + cell / 2
            body.append(f'<text x="{x}" y="{bottom + 14}" text-anchor="middle">{escape(predicted)}</text>')
        body.append(
            f'<text class="title" x="{LEFT + cell * len(classes) / 2}" y="{bottom + 32}" text-anchor="middle">'
            f"{escape(plot.y_label)}</text>"
            f'<text class="title" transform="translate(14,{(top + bottom) / 2:.1f}) rotate(-90)" '
            f'text-anchor="middle">{escape(plot.x_label)}</text>'
        )
        svgs.append(_svg(body, width=size, height=bottom + 40))
    return svgs


RENDERERS: dict[str, Callable[[PlotData], list[str]]] = {
    "linear": lambda plot: _xy_plot(plot, "linear"),
    "scatter": lambda plot: _xy_plot(plot, "scatter"),
    "smooth": lambda plot: _xy_plot(plot, "smooth"),
    "bar": _bar_plot,
    "confusion": _confusion_plot,
}


def render_svgs(plot: PlotData) -> list[str]:
    """The SVG elements of one plot (several for a confusion plot: one matrix per revision)."""
    return RENDERERS[plot.spec.template](plot)
