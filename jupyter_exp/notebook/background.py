"""Runs in the background of a notebook (``%exp run --bg``): the handle a cell gets back, the output pane
it streams to, and the live plots drawn while stages log metrics; plus how a run's errors read in a cell.
"""

from __future__ import annotations

import contextvars
import functools
import shlex
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jupyter_exp.errors import JupyterExpError
from jupyter_exp.fsutil import relpath

_RED, _RESET = "\x1b[31m", "\x1b[0m"
INTERRUPTED = "Interrupted: completed stages and checkpoints are saved."


class CellError(Exception):
    """A user error: IPython renders ``_render_traceback_`` (one red message) instead of a traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"{_RED}{self}{_RESET}"]


def describe_error(error: BaseException) -> str:
    if isinstance(error, KeyboardInterrupt):
        return INTERRUPTED
    if isinstance(error, JupyterExpError):  # the core suggests CLI commands; here they are magics
        return f"ERROR: {error}".replace("`jupyter exp ", "`%exp ")
    return f"ERROR: {type(error).__name__}: {error}"


# ---------------------------------------------------------------------------------------------------------
# live plots


def _logged_since(directory: Path, since: float) -> bool:
    from jupyter_exp.types import FolderTail

    for path in FolderTail(directory).files().values():
        try:
            if path.stat().st_mtime >= since:
                return True
        except FileNotFoundError:
            continue
    return False


class LivePlots:
    """One LiveMetricsPlot per live folder, shown before the run starts and tailing while it goes on.

    At the end a plot whose folder received nothing during this run (its stage was up to date) is removed
    from the cell, and the others are refreshed so the saved notebook holds the final curves.
    """

    def __init__(self, directories: Sequence[Path], root: Path) -> None:
        self.started = time.time()
        self.entries: list[tuple[Path, Any, Any]] = []
        if not directories:
            return
        from IPython.display import display

        from jupyter_exp.notebook.widgets.live_plot import LiveMetricsPlot

        for directory in directories:
            plot = LiveMetricsPlot(directory, title=relpath(directory, root))
            handle = display(plot, display_id=True)
            plot.start()
            self.entries.append((directory, plot, handle))

    def finish(self) -> None:
        for directory, plot, handle in self.entries:
            plot.stop()
            if handle is None:
                continue
            if _logged_since(directory, self.started):
                handle.update(plot)
            else:
                handle.update({"text/plain": ""}, raw=True)


# ---------------------------------------------------------------------------------------------------------
# background runs


@functools.cache
def _pane_class() -> type:
    """An HTML widget with a readable text fallback (defined on first use: ipywidgets is a heavy import)."""
    import html

    import ipywidgets

    class _Pane(ipywidgets.HTML):  # type: ignore[misc]
        text = ""

        def show_text(self, text: str) -> None:
            self.text = text
            self.value = f'<pre class="jx-run-output" style="max-height:24em;overflow:auto;margin:0">{html.escape(text)}</pre>'

        def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
            return {**super()._repr_mimebundle_(**kwargs), "text/plain": self.text}

    return _Pane


class OutputPane:
    """Text output of a background run, in a widget so it updates from the run's thread.

    Prints from a thread, and display updates, are routed by the kernel to whichever cell runs *now* (and
    dropped when none does); widget state travels over its own comm, so this pane keeps updating.
    """

    max_chars = 20_000
    interval = 0.25

    def __init__(self) -> None:
        from IPython.display import display

        self.text = ""
        self._lock = threading.Lock()
        self._last = 0.0
        self._timer: threading.Timer | None = None
        self.widget = _pane_class()()
        self.widget.show_text("Starting in the background...")
        display(self.widget)

    def write(self, chunk: str) -> None:
        with self._lock:
            self.text = (self.text + chunk)[-self.max_chars :]
            due = time.monotonic() - self._last >= self.interval
            if not due and self._timer is None:
                self._timer = threading.Timer(self.interval, self.flush)
                self._timer.daemon = True
                self._timer.start()
        if due:
            self.flush()

    def line(self, message: str) -> None:
        self.write(message + "\n")

    def flush(self) -> None:
        with self._lock:
            self._last = time.monotonic()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            text = self.text
        self.widget.show_text(text)


class RunHandle:
    """A run started with ``--bg``: the kernel stays usable while it goes on.

    ``wait()`` blocks until it ends and returns the command's result (or raises its error), ``done`` says
    whether it ended, ``result``/``error`` hold the outcome, ``interrupt()`` stops it like Ctrl-C would
    (completed stages and checkpoints are kept).
    """

    def __init__(self, words: Sequence[str], root: Path) -> None:
        self.words = list(words)
        self.root = root
        self.result: Any = None
        self.error: BaseException | None = None
        self.interrupted = False
        self.stop = threading.Event()
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None
        self.pane: OutputPane | None = None

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    @property
    def output(self) -> str:
        """What the run printed so far (its stages' output, progress and the final summary)."""
        return self.pane.text if self.pane is not None else ""

    def wait(self, timeout: float | None = None) -> Any:
        if not self._finished.wait(timeout):
            raise TimeoutError(f"'{self.command}' is still running after {timeout} s")
        if self.error is not None:
            raise CellError(describe_error(self.error)) from None
        return self.result

    def interrupt(self) -> None:
        """Stop the run as Ctrl-C would: the running command gets SIGINT and no further stage starts."""
        self.stop.set()

    @property
    def stopping(self) -> bool:
        return self.stop.is_set()

    @property
    def command(self) -> str:
        return f"%exp {shlex.join(self.words)}"

    def start(self, work: Callable[[], None]) -> None:
        # Copy the cell's context so the kernel attributes this thread's messages to the cell that started it.
        self._thread = threading.Thread(
            target=contextvars.copy_context().run, args=(work,), name="jx-background-run", daemon=True
        )
        self._thread.start()

    def finish(self) -> None:
        ACTIVE_RUNS.pop(self.root, None)
        self._finished.set()

    def __repr__(self) -> str:
        if not self.done:
            state = "running"
        elif self.interrupted:
            state = "interrupted"
        else:
            state = "failed" if self.error is not None else "done"
        return f"<RunHandle {self.command}: {state}>"


ACTIVE_RUNS: dict[Path, RunHandle] = {}
