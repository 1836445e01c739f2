"""Which plots a revision declares and the series each revision contributes to them.

Definitions come from ``dvc.yaml``: stage ``plots:`` outputs (files or folders), DVC 2.0 ``live:``
folders, and the DVC 3 top-level ``plots:`` list (``- train.json: {x: step, y: loss}`` or an id
with ``y: {a.json: loss, b.json: loss}``). Each revision's own ``dvc.yaml`` is read, so a plot
added later still shows, with the revisions that have its data.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from jupyter_exp.errors import JupyterExpError, YAMLFileError
from jupyter_exp.fsutil import TreeReader
from jupyter_exp.params.declared import Declared, TopLevelPlot, declared
from jupyter_exp.plots.data import Row, data_files_under, is_image, load_rows

TEMPLATES = ("linear", "scatter", "smooth", "confusion", "bar")
# DVC's other template names, drawn by the closest of ours.
TEMPLATE_ALIASES = {
    "simple": "linear",
    "confusion_normalized": "confusion",
    "bar_horizontal": "bar",
    "bar_horizontal_sorted": "bar",
}
PROPS = ("template", "x", "y", "title", "x_label", "y_label")
INDEX_FIELD = "step"  # DVC's name for the row number when a file has no x column


@dataclass(frozen=True)
class Source:
    """One field of one file; ``None`` fields are inferred from the data."""

    file: str
    y: str | None = None
    x: str | None = None


@dataclass
class PlotSpec:
    """A plot as declared: its id (a file path or a free title), sources and presentation."""

    id: str
    sources: list[Source]
    template: str = "linear"
    title: str | None = None
    x_label: str | None = None
    y_label: str | None = None


@dataclass
class Series:
    """What one revision contributes from one source: the rows and the (x, y) points drawn."""

    rev: str
    source: Source
    x_field: str
    y_field: str
    rows: list[Row]
    points: list[tuple[Any, Any]]


@dataclass(frozen=True)
class Image:
    """One revision's version of an image plot (png, jpg, gif, svg), as its bytes."""

    rev: str
    data: bytes


@dataclass
class PlotData:
    """A plot ready to draw: its spec, one series per (revision, source) or, for an image plot, one
    image per revision, and what went wrong."""

    spec: PlotSpec
    series: list[Series] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)

    @property
    def is_image(self) -> bool:
        return len(self.spec.sources) == 1 and is_image(self.spec.sources[0].file)

    @property
    def x_label(self) -> str:
        return self.spec.x_label or _common(s.x_field for s in self.series) or "x"

    @property
    def y_label(self) -> str:
        return self.spec.y_label or _common(s.y_field for s in self.series) or "y"

    @property
    def title(self) -> str:
        return self.spec.title or self.spec.id


def _common(names: Iterable[str]) -> str | None:
    unique = set(names)
    return unique.pop() if len(unique) == 1 else None


def _template(name: Any, where: str) -> str:
    name = TEMPLATE_ALIASES.get(name, name) if isinstance(name, str) else name
    if name not in TEMPLATES:
        known = ", ".join(TEMPLATES + tuple(TEMPLATE_ALIASES))
        raise YAMLFileError(f"{where}: unknown plot template {name!r} (known: {known})")
    return name


def _fields(value: Any, where: str) -> list[str | None]:
    if value is None:
        return [None]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise YAMLFileError(f"{where}: 'y' must be a field name or a list of field names")


def _spec(plot_id: str, sources: list[Source], props: Mapping[str, Any], where: str) -> PlotSpec:
    return PlotSpec(
        id=plot_id,
        sources=sources,
        template=_template(props.get("template") or "linear", where),
        title=props.get("title"),
        x_label=props.get("x_label"),
        y_label=props.get("y_label"),
    )


def _top_level_spec(plot: TopLevelPlot) -> PlotSpec:
    entry = plot.entry
    if isinstance(entry, str):
        path = posixpath.normpath(posixpath.join(plot.base, entry))
        return _spec(path, [Source(path)], {}, f"plot '{entry}'")
    if not (isinstance(entry, dict) and len(entry) == 1):
        raise YAMLFileError(
            f"top-level plots: each entry is a path or one id mapped to its options: {entry!r}"
        )
    ((plot_id, props),) = entry.items()
    props = props or {}
    where = f"plot '{plot_id}'"
    if not isinstance(props, dict):
        raise YAMLFileError(f"{where}: options must be a mapping")
    x, y = props.get("x"), props.get("y")
    if isinstance(y, dict):
        sources = []
        for file, fields in y.items():
            path = posixpath.normpath(posixpath.join(plot.base, file))
            x_field = x.get(file) if isinstance(x, dict) else x
            sources.extend(Source(path, name, x_field) for name in _fields(fields, where))
        return _spec(str(plot_id), sources, props, where)
    path = posixpath.normpath(posixpath.join(plot.base, str(plot_id)))
    x_field = x.get(str(plot_id)) if isinstance(x, dict) else x
    return _spec(path, [Source(path, name, x_field) for name in _fields(y, where)], props, where)


def declared_specs(decl: Declared) -> list[PlotSpec]:
    """Stage plots (and ``live:`` folders) first, then top-level ones; a later id replaces an earlier."""
    specs: dict[str, PlotSpec] = {}
    for stage in decl.stages:
        for out in stage.outs:
            if out.kind != "plots":
                continue
            where = f"stage '{stage.name}' plot '{out.def_path}'"
            y = out.options.get("y")
            if y is not None and not isinstance(y, str):
                raise YAMLFileError(f"{where}: 'y' must be a field name")
            specs[out.path] = _spec(out.path, [Source(out.path, y, out.options.get("x"))], out.options, where)
    for plot in decl.plots:
        spec = _top_level_spec(plot)
        specs[spec.id] = spec
    return list(specs.values())


def _expand_folders(tree: TreeReader, specs: Iterable[PlotSpec]) -> list[PlotSpec]:
    """A folder plot becomes one plot per data file inside it (a live folder: one per metric)."""
    out = []
    for spec in specs:
        if len(spec.sources) == 1 and spec.sources[0].file == spec.id and tree.isdir(spec.id):
            source = spec.sources[0]
            for path in data_files_under(tree, spec.id):
                out.append(replace(spec, id=path, sources=[replace(source, file=path)]))
        else:
            out.append(spec)
    return out


def _matches(spec: PlotSpec, target: str) -> bool:
    if spec.id == target:
        return True
    prefix = target.rstrip("/") + "/"
    return any(s.file == target or s.file.startswith(prefix) for s in spec.sources)


def specs_for(
    trees: Mapping[str, TreeReader],
    targets: Iterable[str] | None = None,
    props: Mapping[str, Any] | None = None,
) -> list[PlotSpec]:
    """Plot specs merged over the revisions (first definition of an id wins), filtered by ``targets``.

    A target that no plot declares is drawn as a plot of its own (a file, or each file in a folder).
    ``props`` (``template``, ``x``, ``y``, titles) override every plot, like the CLI options.
    """
    props = dict(props or {})
    unknown = set(props) - set(PROPS)
    if unknown:
        raise JupyterExpError(f"unknown plot option(s): {', '.join(sorted(unknown))}")
    merged: dict[str, PlotSpec] = {}
    wanted = [posixpath.normpath(t) for t in targets] if targets is not None else None
    for tree in trees.values():
        specs = declared_specs(declared(tree))
        if wanted is not None:
            chosen = [s for s in specs if any(_matches(s, t) for t in wanted)]
            claimed = {t for t in wanted if any(_matches(s, t) for s in specs)}
            chosen += [_spec(t, [Source(t)], {}, f"plot '{t}'") for t in wanted if t not in claimed]
            specs = chosen
        for spec in _expand_folders(tree, specs):
            merged.setdefault(spec.id, spec)
    return [_override(spec, props) for spec in merged.values()]


def _override(spec: PlotSpec, props: Mapping[str, Any]) -> PlotSpec:
    if not props:
        return spec
    where = "plot options"
    sources = spec.sources
    if props.get("x") is not None or props.get("y") is not None:
        sources = [replace(s, x=props.get("x") or s.x, y=props.get("y") or s.y) for s in sources]
    return PlotSpec(
        id=spec.id,
        sources=sources,
        template=_template(props["template"], where) if props.get("template") else spec.template,
        title=props.get("title") or spec.title,
        x_label=props.get("x_label") or spec.x_label,
        y_label=props.get("y_label") or spec.y_label,
    )


def _infer_fields(spec: PlotSpec, source: Source, rows: list[Row]) -> tuple[str, str]:
    keys = list(rows[0]) if rows else []
    if spec.template == "confusion":
        x = source.x or ("actual" if "actual" in keys else keys[0] if keys else "actual")
        y = source.y or ("predicted" if "predicted" in keys else keys[1] if len(keys) > 1 else "predicted")
        return x, y
    default_x = keys[0] if spec.template == "bar" and keys else INDEX_FIELD
    x = source.x or default_x
    y = source.y or next((k for k in reversed(keys) if k != x), x)
    return x, y


def _series(spec: PlotSpec, rev: str, source: Source, rows: list[Row]) -> Series:
    x_field, y_field = _infer_fields(spec, source, rows)
    if rows and y_field not in rows[0]:
        raise YAMLFileError(f"field '{y_field}' not found in '{source.file}'")
    if rows and x_field != INDEX_FIELD and x_field not in rows[0]:
        raise YAMLFileError(f"field '{x_field}' not found in '{source.file}'")
    by_index = x_field == INDEX_FIELD and bool(rows) and INDEX_FIELD not in rows[0]
    points = [(i if by_index else row.get(x_field), row.get(y_field)) for i, row in enumerate(rows)]
    return Series(rev, source, x_field, y_field, rows, points)


def collect(
    trees: Mapping[str, TreeReader],
    targets: Iterable[str] | None = None,
    props: Mapping[str, Any] | None = None,
) -> list[PlotData]:
    """Every plot with one series per revision and source; a revision without a file adds nothing."""
    specs = specs_for(trees, targets, props)
    cache: dict[tuple[str, str], list[Row] | JupyterExpError] = {}
    plots = []
    for spec in specs:
        plot = PlotData(spec)
        if plot.is_image:
            _collect_images(plot, trees)
            if plot.images or plot.errors:
                plots.append(plot)
            continue
        for rev, tree in trees.items():
            for source in spec.sources:
                key = (rev, source.file)
                if key not in cache:
                    if not tree.exists(source.file) or tree.isdir(source.file):
                        continue
                    try:
                        cache[key] = load_rows(tree, source.file)
                    except JupyterExpError as exc:
                        cache[key] = exc
                rows = cache[key]
                try:
                    if isinstance(rows, JupyterExpError):
                        raise rows
                    plot.series.append(_series(spec, rev, source, rows))
                except JupyterExpError as exc:
                    plot.errors.append(f"{rev}: {exc}")
        if plot.series or plot.errors:  # declared, but in none of these revisions: nothing to draw
            plots.append(plot)
    return plots


def _collect_images(plot: PlotData, trees: Mapping[str, TreeReader]) -> None:
    path = plot.spec.sources[0].file
    for rev, tree in trees.items():
        if not tree.exists(path) or tree.isdir(path):
            continue
        try:
            plot.images.append(Image(rev, tree.read_bytes(path)))
        except OSError as exc:  # a cached image the cache lacks
            plot.errors.append(f"{rev}: {exc}")
