"""The live metrics logger: DVC 2.0's ``dvclive`` layout and API, with today's DVCLive names.

Layout for ``Live("logs")``::

    logs/loss.tsv         timestamp<TAB>step<TAB>loss   (ms since the epoch, one row per logged value)
    logs/train/acc.tsv    timestamp<TAB>step<TAB>acc    (metric "train/acc")
    logs/params.yaml      log_param / log_params
    logs.json             summary: {"step": N, "loss": ..., "train": {"acc": ...}} (last value of each)
    logs.html             self-contained report (table + inline SVG plots)

Durable and fast: each metric's TSV stays open in append mode and every row is one ``write`` to the
OS before ``log`` returns (a SIGKILL right after loses nothing; no fsync, so a power cut may); the
summary is rewritten in place by ``next_step`` (``live/writer.py`` says why that is safe), so
``logs.json`` holds a step when ``next_step``, ``make_checkpoint`` or ``end`` returns; the report is
redrawn at most once a second from bounded, downsampled series on a background thread (``flush()``,
``end()`` and a checkpoint wait for it). Paths are made absolute at construction, so a training that
calls ``os.chdir`` keeps logging to the same folder. Nothing ever re-reads the history, so a step
costs the same at step 10 and at step 10,000.

Semantics worth knowing:

* ``bool`` values are refused (log ``int(flag)``): a TSV of ``True``/``False`` is not a plot.
  Anything with ``.item()`` returning an int or float (numpy scalars, 0-d arrays, 0-d torch
  tensors) is accepted; NaN and infinities are written as ``nan``/``inf``/``-inf``.
* ``resume=True`` continues from the summary's ``step`` + 1 (the summary is written by ``next_step``
  before the step advances, so it holds the last completed step). DVC 2.0's dvclive 0.x did the
  same except that a summary at step 0 resumed *at* 0, overwriting it; we resume at 1. Without a
  summary (``summary=False``) the last step found in the TSVs is used.
* Without ``resume`` a new run deletes every ``*.tsv`` under its folder (as dvclive 0.x did), its
  ``params.yaml``, summary and report; other files in the folder are kept.
* ``Live.log_metric`` called twice for one metric in a step writes two rows at that step (today's
  DVCLive). The module-level ``log()`` keeps dvclive 0.x's rule instead: logging a metric already
  logged in this step starts the next step first.
* Environment from the runner (``DVCLIVE_PATH``, ``DVCLIVE_SUMMARY``, ``DVCLIVE_HTML`` or
  ``DVCLIVE_REPORT``, ``DVCLIVE_RESUME``: true/false/1/0) applies where an argument is not given.
"""

from __future__ import annotations

import atexit
import json
import os
import time
import weakref
from collections.abc import Mapping
from typing import Any

from jupyter_exp.errors import LiveError
from jupyter_exp.live.checkpoint import checkpoint_requested, signal_checkpoint
from jupyter_exp.live.tsv import drop_partial_line, last_logged_step
from jupyter_exp.protocol import (
    ENV_LIVE_HTML,
    ENV_LIVE_PATH,
    ENV_LIVE_REPORT,
    ENV_LIVE_RESUME,
    ENV_LIVE_SUMMARY,
)

DEFAULT_PATH = "dvclive"
PARAMS_FILE = "params.yaml"
REPORT_INTERVAL_SECONDS = 1.0

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_UNSET: Any = object()
_time_ns = time.time_ns
_monotonic = time.monotonic


def env_flag(name: str, default: bool) -> bool:
    """A boolean environment variable (true/false/1/0/yes/no/on/off); ``default`` when unset."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise LiveError(f"environment variable {name}={raw!r} is not a boolean: use true/false or 1/0")


class _Metric:
    """Per-metric state kept between calls so that logging is a dict lookup and a buffered write."""

    __slots__ = ("fd", "parent", "leaf", "series", "last_step", "last_value")

    def __init__(self, fd: int, parent: dict[str, Any], leaf: str, series: Any) -> None:
        self.fd = fd
        self.parent = parent
        self.leaf = leaf
        self.series = series
        self.last_step = 0
        self.last_value: float = float("nan")


def _as_number(name: str, value: Any) -> int | float:
    """``value`` as a plain int/float, or a LiveError naming the metric and the offending type."""
    kind = type(value)
    if kind is bool:
        raise LiveError(f"metric {name!r}: bool is not a metric value; log int({value}) instead")
    if kind is float or kind is int:
        return value
    item = getattr(value, "item", None)
    if callable(item):
        try:
            plain = item()
        except (ValueError, RuntimeError, TypeError):
            raise LiveError(
                f"metric {name!r}: {kind.__module__}.{kind.__name__} with more than one element is not a scalar"
            ) from None
        if type(plain) in (int, float):
            return plain
        raise LiveError(f"metric {name!r}: {kind.__module__}.{kind.__name__} holding {type(plain).__name__} is not a number")
    if isinstance(value, (int, float)):  # int/float subclasses without .item()
        return float(value) if isinstance(value, float) else int(value)
    raise LiveError(f"metric {name!r}: value of type {kind.__name__} is not a number")


class Live:
    """A live metrics logger writing ``<path>/*.tsv``, ``<path>.json`` and ``<path>.html``.

    Use as a context manager (or call :meth:`end`) so the last step's summary and the final report
    (without auto-refresh) are written and the files are closed.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        summary: bool | None = None,
        html: bool | None = None,
        report: Any = _UNSET,
        resume: bool | None = None,
        dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if path is not None and dir is not None and os.fspath(path) != os.fspath(dir):
            raise LiveError(f"Live(): path={path!r} and dir={dir!r} disagree; give one")
        chosen = path if path is not None else dir
        if chosen is None:
            chosen = os.environ.get(ENV_LIVE_PATH) or DEFAULT_PATH
        self._dir = os.fspath(chosen).rstrip("/\\") or "."
        root = os.path.abspath(self._dir)  # fixed now: the training may chdir later
        self._summary_on = env_flag(ENV_LIVE_SUMMARY, True) if summary is None else bool(summary)
        self._html_on = _resolve_html(html, report)
        resume_on = env_flag(ENV_LIVE_RESUME, False) if resume is None else bool(resume)

        self._root = root
        self._summary_path = root + ".json"
        self._report_path = root + ".html"
        self._report_tmp = f"{root}.html.{os.getpid()}.tmp"
        self._params_path = os.path.join(root, PARAMS_FILE)

        self._step = 0
        self._tree: dict[str, Any] = {"step": 0}
        self._metrics: dict[str, _Metric] = {}
        self._step_names: set[str] = set()
        self._pending = False
        self._ended = False
        self._params: dict[str, Any] = {}
        self._last_report = float("-inf")
        self._checkpoint = checkpoint_requested()

        if resume_on:
            self._load_previous()
        else:
            self._remove_previous()
        os.makedirs(root, exist_ok=True)
        from jupyter_exp.live.writer import BackgroundWriter, SummaryFile

        self._summary_file = SummaryFile(self._summary_path)
        self._writer = BackgroundWriter(self._dir)
        self._pid = os.getpid()
        _open_loggers.add(self)

    # -- public API ---------------------------------------------------------------------------------

    @property
    def dir(self) -> str:
        """The folder holding the TSVs (``path``)."""
        return self._dir

    @property
    def summary_path(self) -> str:
        """Absolute path of ``<path>.json``."""
        return self._summary_path

    @property
    def report_path(self) -> str:
        return self._report_path

    @property
    def params_path(self) -> str:
        return self._params_path

    @property
    def step(self) -> int:
        """The step that the next logged values belong to."""
        return self._step

    @step.setter
    def step(self, value: int) -> None:
        if type(value) is not int:
            if isinstance(value, bool) or not hasattr(value, "__index__"):
                raise LiveError(f"step must be an int, not {type(value).__name__}")
            value = value.__index__()
        if value < 0:
            raise LiveError(f"step must be >= 0, not {value}")
        self._step = value

    @property
    def summary(self) -> dict[str, Any]:
        """The last value of each metric, nested by ``/``, plus ``step`` (a copy)."""
        return _copy_tree(self._tree)

    @property
    def metrics(self) -> list[str]:
        """Names of the metrics logged so far, in first-logged order."""
        return list(self._metrics)

    def log_metric(self, name: str, val: Any, step: int | None = None) -> None:
        """Append ``val`` to ``<path>/<name>.tsv`` at the current step (or at ``step``, which becomes current);
        the row has been written to the OS when this returns."""
        if self._ended:
            raise LiveError(f"Live({self._dir!r}) has ended; start a new Live to log {name!r}")
        metric = self._metrics.get(name)
        if metric is None:
            metric = self._open_metric(name)
        kind = type(val)
        if kind is not float and kind is not int:
            val = _as_number(name, val)
        if step is not None:
            self.step = step
        current = self._step
        _write(metric.fd, f"{_time_ns() // 1_000_000}\t{current}\t{val}\n".encode())
        metric.parent[metric.leaf] = val
        metric.last_step = current
        metric.last_value = val
        if metric.series is not None:
            metric.series.add(current, val)
        self._pending = True
        self._step_names.add(name)

    log = log_metric

    def log_param(self, name: str, val: Any) -> None:
        """Record one parameter in ``<path>/params.yaml``."""
        self.log_params({name: val})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record parameters in ``<path>/params.yaml`` (merged with those already logged)."""
        for key, value in params.items():
            if not isinstance(key, str):
                raise LiveError(f"parameter names must be strings, not {type(key).__name__} ({key!r})")
            self._params[key] = _plain_param(key, value)
        import yaml

        from jupyter_exp.live.writer import write_atomic

        text = yaml.safe_dump(self._params, sort_keys=False, allow_unicode=True)
        os.makedirs(self._root, exist_ok=True)
        write_atomic(self._params_path, self._params_path + f".{os.getpid()}.tmp", text.encode("utf-8"))

    def next_step(self) -> None:
        """Close the current step: write the summary, maybe redraw the report, advance, and, when a
        runner asked for checkpoints (``DVC_CHECKPOINT=1``), wait for it to commit one."""
        if self._ended:
            raise LiveError(f"Live({self._dir!r}) has ended")
        if self._summary_on:
            self._write_summary(clean=self._checkpoint)
        self._pending = False
        if self._html_on and _monotonic() - self._last_report >= REPORT_INTERVAL_SECONDS:
            self.make_report()
        self._step_names.clear()
        self._step += 1
        if self._checkpoint:
            self._writer.wait()
            signal_checkpoint()

    def flush(self) -> None:
        """Write the summary if values are pending and wait for the report being drawn."""
        if self._pending and self._summary_on:
            self._write_summary(clean=self._checkpoint)
            self._pending = False
        self._writer.wait()

    def make_report(self, *, running: bool = True) -> None:
        """Redraw ``<path>.html`` (in the background; ``flush()`` waits for it). ``next_step`` does this
        by itself at most once a second, so its cost does not grow with the number of steps."""
        from jupyter_exp.live.report import PlotSeries, render_report
        from jupyter_exp.live.writer import write_atomic

        series = []
        for name, metric in self._metrics.items():
            points = list(metric.series.points) if metric.series is not None else []
            if not points or points[-1][0] != metric.last_step:
                points.append((metric.last_step, metric.last_value))
            series.append(PlotSeries(name, points, metric.last_step, metric.last_value))
        step = max((m.last_step for m in self._metrics.values()), default=self._step)
        path, tmp = self._report_path, self._report_tmp
        title = f"Live metrics: {self._dir}"

        def job() -> None:
            html = render_report(series, step=step, running=running, title=title)
            write_atomic(path, tmp, html.encode("utf-8"))

        self._writer.submit("report", job)
        self._last_report = _monotonic()

    def end(self) -> None:
        """Finish the run: flush, write the last summary and the final report, close the files."""
        if self._ended:
            return
        self._ended = True
        _open_loggers.discard(self)
        try:
            if self._pending and self._summary_on:
                self._write_summary(clean=True)
            else:
                self._summary_file.unpad()
            if self._html_on:
                self.make_report(running=False)
        finally:
            for metric in self._metrics.values():
                os.close(metric.fd)
            self._summary_file.close()
            self._writer.close()

    def __enter__(self) -> Live:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.end()

    def __repr__(self) -> str:
        return f"Live({self._dir!r}, step={self._step})"

    # -- internals ----------------------------------------------------------------------------------

    def _write_summary(self, *, clean: bool = False) -> None:
        """Write the summary now; ``clean``: the exact file, atomically (it is about to be committed)."""
        self._tree["step"] = self._step
        data = json.dumps(self._tree, indent=4).encode("utf-8")
        if clean:
            self._summary_file.write_clean(data)
        else:
            self._summary_file.write(data)

    def _open_metric(self, name: str) -> _Metric:
        """First sight of a metric: validate its name, find its summary slot, open its TSV."""
        if not isinstance(name, str):
            raise LiveError(f"metric names must be strings, not {type(name).__name__} ({name!r})")
        parts = name.split("/")
        if any(part in ("", ".", "..") or "\t" in part or "\n" in part or "\\" in part for part in parts):
            raise LiveError(f"metric name {name!r} is not a relative path of plain names (like 'train/loss')")
        if name == "step":
            raise LiveError("metric name 'step' is reserved: the summary stores the step under that key")
        parent = self._tree
        for depth, part in enumerate(parts[:-1]):
            child = parent.setdefault(part, {})
            if not isinstance(child, dict):
                group = "/".join(parts[: depth + 1])
                raise LiveError(f"metric {name!r} conflicts with metric {group!r}: {group!r} cannot be both")
            parent = child
        leaf = parts[-1]
        if isinstance(parent.get(leaf), dict):
            raise LiveError(f"metric {name!r} conflicts with the metrics under {name + '/'!r}")
        path = os.path.join(self._root, *parts) + ".tsv"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        existing = drop_partial_line(path)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)  # kept open for the run
        if existing == 0:
            _write(fd, f"timestamp\tstep\t{leaf}\n".encode())
        series = None
        if self._html_on:
            from jupyter_exp.live.report import Downsampled

            series = Downsampled()
        metric = _Metric(fd, parent, leaf, series)
        if existing:  # resumed: the report plots the earlier rows too (read once, here)
            from jupyter_exp.live.tsv import read_tsv

            for row in read_tsv(path):
                if series is not None:
                    series.add(row.step, row.value)
                metric.last_step, metric.last_value = row.step, row.value
        self._metrics[name] = metric
        return metric

    def _remove_previous(self) -> None:
        """A fresh run: delete what this logger writes (TSVs, params, summary, report), keep the rest."""
        for path in (self._summary_path, self._report_path, self._params_path):
            if os.path.isfile(path):
                os.remove(path)
        for root, _dirs, files in os.walk(self._root, topdown=False):
            tsvs = [file for file in files if file.endswith(".tsv")]
            for file in tsvs:
                os.remove(os.path.join(root, file))
            if tsvs and root != self._root and not os.listdir(root):
                os.rmdir(root)

    def _load_previous(self) -> None:
        """``resume``: step from the summary (+1), last values and params from their files."""
        last_step: int | None = None
        if os.path.isfile(self._summary_path):
            try:
                with open(self._summary_path, encoding="utf-8") as fobj:
                    previous = json.load(fobj)
                last_step = int(previous.get("step", 0))
            except (ValueError, TypeError, AttributeError) as exc:
                raise LiveError(f"{self._summary_path}: cannot resume from this summary: {exc}") from exc
            self._tree.update(_copy_tree(previous))
        else:
            last_step = last_logged_step(self._root)
        if last_step is not None:
            self._step = last_step + 1
        self._tree["step"] = self._step
        if os.path.isfile(self._params_path):
            import yaml

            with open(self._params_path, encoding="utf-8") as fobj:
                loaded = yaml.safe_load(fobj)
            if isinstance(loaded, dict):
                self._params.update(loaded)


def _resolve_html(html: bool | None, report: Any) -> bool:
    """``html=`` (DVC 2.0) and ``report=`` (today's DVCLive) name one switch; the environment fills in."""
    from_report: bool | None = None
    if report is not _UNSET:
        if report in (True, "html"):
            from_report = True
        elif report in (False, None):
            from_report = False
        else:
            raise LiveError(f"report={report!r} is not supported: use True/'html' or False/None")
    if html is not None and from_report is not None and bool(html) != from_report:
        raise LiveError(f"Live(): html={html!r} and report={report!r} disagree; give one")
    if html is not None:
        return bool(html)
    if from_report is not None:
        return from_report
    if ENV_LIVE_HTML in os.environ:
        return env_flag(ENV_LIVE_HTML, True)
    return env_flag(ENV_LIVE_REPORT, True)


def _plain_param(name: str, value: Any) -> Any:
    """A YAML-safe copy of a parameter value (numpy scalars unwrapped), or a LiveError naming it."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain_param(f"{name}.{k}", v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_param(f"{name}[{i}]", v) for i, v in enumerate(value)]
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return _plain_param(name, item())
        except (ValueError, RuntimeError, TypeError):
            pass
    raise LiveError(f"parameter {name!r}: value of type {type(value).__name__} cannot be written to YAML")


def _write(fd: int, data: bytes) -> None:
    """One row to the OS (a regular file takes it whole; the loop covers a signal mid-write)."""
    while data:
        data = data[os.write(fd, data) :]


def _copy_tree(tree: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _copy_tree(v) if isinstance(v, Mapping) else v for k, v in tree.items()}


# Every open logger, so the ones DVC 2.0 scripts never end are finished at exit.
_open_loggers: weakref.WeakSet[Live] = weakref.WeakSet()


@atexit.register
def _end_open_loggers() -> None:
    """DVC 2.0 scripts never call ``end()``: finish every open run at exit (summary, final report)."""
    for live in list(_open_loggers):
        if live._pid == os.getpid():  # a forked child has no writer thread; its parent finishes the run
            live.end()
