"""The plots page (one offline HTML file) and the ``--json`` data, from collected plots."""

from __future__ import annotations

import base64
import os
import posixpath
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from jupyter_exp.fsutil import atomic_write_bytes, atomic_write_text
from jupyter_exp.plots.collect import PlotData
from jupyter_exp.plots.data import IMAGE_TYPES
from jupyter_exp.plots.templates import colors, render_svgs, series_label

INDEX = "index.html"

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em; color: #222; }
.plots { display: flex; flex-wrap: wrap; gap: 18px; }
figure { margin: 0; border: 1px solid #ddd; padding: 8px; }
figcaption { font-weight: 600; margin-bottom: 4px; }
svg text { font-size: 11px; fill: #555; }
svg text.title { font-size: 12px; fill: #333; }
svg .grid { stroke: #eee; }
svg .axis { stroke: #888; }
svg .line { fill: none; stroke-width: 1.6; }
.legend { list-style: none; padding: 0; margin: 6px 0 0; display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 5px; vertical-align: -1px; }
.errors { color: #b00; font-size: 12px; }
.images { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start; }
.images figure { border: none; padding: 0; text-align: center; }
.images img { max-width: 480px; max-height: 480px; }
.images figcaption { font-weight: normal; font-size: 12px; margin: 4px 0 0; }
#tip { position: fixed; pointer-events: none; background: #222; color: #fff; padding: 3px 7px;
       border-radius: 3px; font-size: 12px; display: none; white-space: nowrap; }
"""

# Hover tooltip: show the hovered element's data-tip next to the pointer.
_SCRIPT = """
var tip = document.getElementById("tip");
document.addEventListener("mouseover", function (e) {
  var t = e.target.getAttribute && e.target.getAttribute("data-tip");
  tip.style.display = t ? "block" : "none";
  if (t) { tip.textContent = t; }
});
document.addEventListener("mousemove", function (e) {
  tip.style.left = (e.clientX + 12) + "px"; tip.style.top = (e.clientY + 12) + "px";
});
"""


def _image_figure(plot: PlotData) -> str:
    """An image plot: each revision's image side by side, embedded as a data URI (the page stays one file)."""
    mime = IMAGE_TYPES[posixpath.splitext(plot.spec.id)[1].lower()]
    images = "".join(
        f'<figure data-rev="{escape(image.rev)}"><img alt="{escape(image.rev)}" '
        f'src="data:{mime};base64,{base64.b64encode(image.data).decode()}">'
        f"<figcaption>{escape(image.rev)}</figcaption></figure>"
        for image in plot.images
    )
    errors = "".join(f"<li>{escape(error)}</li>" for error in plot.errors)
    return (
        f'<figure data-plot="{escape(plot.spec.id)}"><figcaption>{escape(plot.title)}</figcaption>'
        f'<div class="images">{images}</div>'
        + (f'<ul class="errors">{errors}</ul>' if errors else "")
        + "</figure>"
    )


def _figure(plot: PlotData) -> str:
    if plot.is_image:
        return _image_figure(plot)
    svgs = render_svgs(plot)
    legend = "".join(
        f'<li><i style="background:{color}"></i>{escape(series_label(plot, series))}</li>'
        for series, color in zip(plot.series, colors(plot), strict=True)
    )
    errors = "".join(f"<li>{escape(error)}</li>" for error in plot.errors)
    empty = "" if svgs or errors else "<p>no data</p>"
    return (
        f'<figure data-plot="{escape(plot.spec.id)}"><figcaption>{escape(plot.title)}</figcaption>'
        + "".join(svgs)
        + empty
        + (f'<ul class="legend">{legend}</ul>' if legend else "")
        + (f'<ul class="errors">{errors}</ul>' if errors else "")
        + "</figure>"
    )


def render_page(plots: Sequence[PlotData], *, title: str = "DVC plots") -> str:
    """The whole page: every plot as inline SVG with a legend; no external resources."""
    figures = "\n".join(_figure(plot) for plot in plots)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<div class="plots">
{figures}
</div>
<div id="tip"></div>
<script>{_SCRIPT}</script>
</body>
</html>
"""


def write_page(plots: Sequence[PlotData], out_dir: str | os.PathLike[str]) -> Path:
    """Write ``<out_dir>/index.html`` atomically and return its absolute path."""
    path = Path(out_dir).resolve() / INDEX
    atomic_write_text(path, render_page(plots))
    return path


def _values(plot: PlotData) -> list[dict[str, Any]]:
    """DVC's data rows: each row tagged with its ``rev`` (and ``filename::field`` for multi-file plots)."""
    multi = len(plot.spec.sources) > 1
    values = []
    for series in plot.series:
        for index, (row, (x, y)) in enumerate(zip(series.rows, series.points, strict=True)):
            value = dict(row)
            if series.x_field not in row:
                value[series.x_field] = index if x is None else x
            if multi:
                value["dvc_inferred_y_value"] = y
                value["filename::field"] = f"{series.source.file}::{series.y_field}"
            value["rev"] = series.rev
            values.append(value)
    return values


def _image_entries(plot: PlotData, image_dir: Path) -> list[dict[str, Any]]:
    """DVC 3's image entries: each revision's image written to ``<image_dir>/<rev>_<path with _>``,
    named by its absolute path."""
    entries = []
    for image in plot.images:
        path = image_dir.resolve() / f"{image.rev}_{plot.spec.id}".replace("/", "_").replace(os.sep, "_")
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, image.data)
        entries.append({"type": "image", "revisions": [image.rev], "url": str(path)})
    return entries


def to_json(plots: Sequence[PlotData], revisions: Sequence[str], image_dir: Path) -> dict[str, Any]:
    """``plots diff --json`` in DVC 3's outer shape (``{"data": {id: [{type, revisions, content}]}}``);
    ``content`` holds the data and the encoding, not a full Vega-Lite spec. Images are written to
    ``image_dir`` and listed as DVC lists them (``{type: image, revisions: [rev], url}``)."""
    data: dict[str, Any] = {}
    errors = []
    for plot in plots:
        errors.extend({"name": plot.spec.id, "msg": error} for error in plot.errors)
        if plot.is_image:
            data[plot.spec.id] = _image_entries(plot, image_dir)
            continue
        multi = len(plot.spec.sources) > 1
        y_field = "dvc_inferred_y_value" if multi else (plot.series[0].y_field if plot.series else None)
        x_field = plot.series[0].x_field if plot.series else None
        data[plot.spec.id] = [
            {
                "type": "vega",
                "revisions": [rev for rev in revisions if any(s.rev == rev for s in plot.series)],
                "content": {
                    "title": plot.title,
                    "template": plot.spec.template,
                    "data": {"values": _values(plot)},
                    "encoding": {
                        "x": {"field": x_field, "title": plot.x_label},
                        "y": {"field": y_field, "title": plot.y_label},
                        "color": {"field": "rev"},
                    },
                },
            }
        ]
    out: dict[str, Any] = {"data": data}
    if errors:
        out["errors"] = errors
    return out
