"""A live plot of the metrics a training run logs, fed by tailing the live logger's TSV files.

The kernel side keeps every point; the front end gets only deltas (custom messages) plus, on
connect and at the end, a downsampled snapshot. The synced ``series_json`` trait is capped at
``max_points`` per metric, so twenty plots saved in a notebook stay far below 5 MB.
"""

from __future__ import annotations

import html
import json
import math
import threading
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from jupyter_exp.types import FolderTail

Point = tuple[float, float]
StopCondition = Callable[[], bool] | threading.Event | Any


def downsample(steps: list[float], values: list[float], max_points: int) -> list[list[float]]:
    """Keep the min and the max of each bucket (and the last point): spikes survive, size is bounded."""
    count = len(steps)
    if count <= max_points:
        return [[_compact(s), _compact(v)] for s, v in zip(steps, values, strict=True)]
    buckets = max(1, max_points // 2)
    size = count / buckets
    kept: list[int] = []
    for bucket in range(buckets):
        start, end = int(bucket * size), min(count, int((bucket + 1) * size))
        if start >= end:
            continue
        low = min(range(start, end), key=values.__getitem__)
        high = max(range(start, end), key=values.__getitem__)
        kept.extend(sorted({low, high}))
    if kept[-1] != count - 1:
        kept.append(count - 1)
    return [[_compact(steps[i]), _compact(values[i])] for i in kept]


def _compact(number: float) -> float | int:
    """Integral floats as ints and 7 significant digits: a third of the JSON of ``repr(float)``."""
    if float(number).is_integer() and abs(number) < 2**53:
        return int(number)
    return float(f"{number:.7g}")


def _stop_check(until: StopCondition | None) -> Callable[[], bool] | None:
    """Accept an Event (``is_set``), a Future or a Popen-like handle (``done``), or a callable."""
    if until is None:
        return None
    if hasattr(until, "is_set"):
        return until.is_set
    if hasattr(until, "done"):
        return until.done
    if callable(until):
        return until
    raise TypeError(f"until= takes an Event, a Future or a callable, not {type(until).__name__}")


def _format(value: float) -> str:
    return f"{value:.4g}"


class LiveMetricsPlot(anywidget.AnyWidget):
    """Small multiples (one per metric, step on x) that grow while a run logs to ``path``.

    ``start()`` tails the TSV files in a background thread (every ``interval`` seconds, only new
    bytes) and ``stop()`` ends it; ``start(until=...)`` stops by itself once the run has ended.
    Use ``display()`` (not a bare cell result) so the static HTML fallback is refreshed with the
    final curves when the run ends.
    """

    _esm = Path(__file__).with_name("live_plot.js")
    _css = Path(__file__).with_name("live_plot.css")

    # Compact JSON text, not a Dict: notebooks are saved with one JSON value per line, so a list of
    # [step, value] pairs would take three times the bytes on disk.
    series_json = traitlets.Unicode("{}").tag(sync=True)
    running = traitlets.Bool(False).tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    max_points = traitlets.Int(400).tag(sync=True)

    def __init__(
        self,
        path: str | Path,
        *,
        title: str | None = None,
        interval: float = 0.5,
        max_points: int = 400,
        **kwargs: Any,
    ) -> None:
        super().__init__(title=title if title is not None else str(path), max_points=max_points, **kwargs)
        self.path = Path(path)
        self.interval = interval
        self._tail = FolderTail(self.path)
        self._data: dict[str, tuple[array, array]] = {}
        self._lock = threading.RLock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._display_handle: Any = None
        self.on_msg(self._on_front_end_message)

    # -- reading -------------------------------------------------------------------------------
    def poll(self) -> bool:
        """Read what was appended since the last poll and push it to the front end; True if anything was new."""
        with self._lock:
            delta: dict[str, list[Point]] = {}
            reset = False
            for name, chunk in self._tail.read().items():
                points = [(row.step, row.value) for row in chunk.rows if math.isfinite(row.value)]
                steps, values = self._data.setdefault(name, (array("d"), array("d")))
                if chunk.restarted:
                    del steps[:], values[:]
                    reset = True
                if points:
                    steps.extend(p[0] for p in points)
                    values.extend(p[1] for p in points)
                    delta[name] = points
            if reset or any(len(points) > self.max_points for points in delta.values()):
                self._push({"type": "reset", "series": self.snapshot()})
            elif delta:
                compact = {name: [[_compact(s), _compact(v)] for s, v in pts] for name, pts in delta.items()}
                self._push({"type": "points", "series": compact})
            return reset or bool(delta)

    @property
    def errors(self) -> dict[str, str]:
        """Metrics no longer read, with why (a malformed line); the other metrics go on."""
        return self._tail.errors

    @property
    def series(self) -> dict[str, list[list[float]]]:
        """The curves the front end was last given in full (the snapshot saved with the notebook)."""
        return json.loads(self.series_json)

    def points(self, name: str) -> list[Point]:
        """Every point read so far for one metric (not downsampled)."""
        with self._lock:
            steps, values = self._data.get(name, ((), ()))
            return list(zip(steps, values, strict=True))

    def metrics(self) -> list[str]:
        with self._lock:
            return sorted(name for name, (steps, _) in self._data.items() if steps)

    def snapshot(self) -> dict[str, list[list[float]]]:
        """Downsampled ``{metric: [[step, value], ...]}``, at most ``max_points`` (+1) per metric."""
        with self._lock:
            return {
                name: downsample(list(steps), list(values), self.max_points)
                for name, (steps, values) in sorted(self._data.items())
                if steps
            }

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, until: StopCondition | None = None) -> LiveMetricsPlot:
        """Tail in a background thread; with ``until``, stop by itself once the run has ended."""
        if self._thread is not None and self._thread.is_alive():
            return self
        check = _stop_check(until)
        self._stop_event.clear()
        self.running = True
        self._thread = threading.Thread(target=self._follow, args=(check,), name="jx-live-plot", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop tailing, read the last lines, publish the final curves and static snapshot."""
        self._stop_event.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self._finish()

    def _follow(self, ended: Callable[[], bool] | None) -> None:
        while True:
            done = ended is not None and ended()
            self.poll()
            if done or self._stop_event.wait(self.interval):
                break
        self._finish()

    def _finish(self) -> None:
        with self._lock:
            self.poll()
            self.series_json = json.dumps(self.snapshot(), separators=(",", ":"))
            was_running, self.running = self.running, False
        if was_running and self._display_handle is not None:
            self._display_handle.update(self)

    def display(self) -> LiveMetricsPlot:
        """Show the plot with a display id, so the end of the run can refresh the static fallback."""
        from IPython.display import display

        self._display_handle = display(self, display_id=True)
        return self

    # -- front end -----------------------------------------------------------------------------
    def _on_front_end_message(self, _widget: Any, content: dict[str, Any], _buffers: list[Any]) -> None:
        if isinstance(content, dict) and content.get("type") == "sync":
            with self._lock:
                self._push({"type": "reset", "series": self.snapshot()})

    def _push(self, content: dict[str, Any]) -> None:
        if self.comm is not None:
            self.send(content)

    def to_svg(self, name: str, width: int = 290, height: int = 150) -> str:
        """Static SVG of one metric's downsampled curve, for front ends without widgets."""
        with self._lock:
            steps, values = self._data.get(name, ((), ()))
            points = downsample(list(steps), list(values), min(self.max_points, 200))
        pad_left, pad_right, pad_top, pad_bottom = 56, 8, 18, 18
        label = html.escape(name)
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="jx-live-panel" data-metric="{label}" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="10">',
            f'<text x="{pad_left}" y="12" font-weight="bold">{label}</text>',
        ]
        if points:
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
            span_x, span_y = (x1 - x0) or 1, (y1 - y0) or 1
            inner_w, inner_h = width - pad_left - pad_right, height - pad_top - pad_bottom

            def xy(step: float, value: float) -> str:
                x = pad_left + (step - x0) / span_x * inner_w
                y = pad_top + (1 - (value - y0) / span_y) * inner_h
                return f"{x:.1f},{y:.1f}"

            path = " ".join(xy(s, v) for s, v in points)
            bottom = height - pad_bottom
            parts += [
                f'<rect x="{pad_left}" y="{pad_top}" width="{inner_w}" height="{inner_h}" fill="none" stroke="#ddd"/>',
                f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{path}"/>',
                f'<text x="{pad_left - 4}" y="{pad_top + 8}" text-anchor="end">{_format(y1)}</text>',
                f'<text x="{pad_left - 4}" y="{bottom}" text-anchor="end">{_format(y0)}</text>',
                f'<text x="{pad_left}" y="{height - 4}">{_format(x0)}</text>',
                f'<text x="{width - pad_right}" y="{height - 4}" text-anchor="end">{_format(x1)}</text>',
                f'<text x="{width - pad_right}" y="12" text-anchor="end">last {_format(ys[-1])}</text>',
            ]
        parts.append("</svg>")
        return "".join(parts)

    def static_html(self) -> str:
        """Inline-SVG snapshot of every metric (the ``text/html`` fallback)."""
        panels = "".join(self.to_svg(name) for name in self.metrics()) or "<em>no metrics logged yet</em>"
        return (
            f'<div class="jx-live-plot jx-static"><div><b>{html.escape(self.title)}</b></div>'
            f'<div style="display:flex;flex-wrap:wrap;gap:8px">{panels}</div></div>'
        )

    def to_text(self) -> str:
        """One line per metric with its last value: the ``text/plain`` fallback."""
        lines = [f"Live metrics: {self.title}"]
        for name in self.metrics():
            step, value = self.points(name)[-1]
            lines.append(f"  {name}: {_format(value)} (step {_format(step)})")
        lines.extend(f"  {name}: not read: {error}" for name, error in self.errors.items())
        return "\n".join(lines)

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        data, metadata = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = self.to_text()
        data["text/html"] = self.static_html()
        return data, metadata
