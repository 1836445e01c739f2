"""``jupyter exp ...`` / ``jupyter-exp ...``: the terminal front end over the shared command table.

Only ``os`` and ``sys`` are imported up front: ``run`` first offers the words to a resident daemon
(``resident.py``), and the command table's imports are what the daemon saves.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from jupyter_exp.commands import ExpShowView, Table


def _confirm(question: str) -> bool:
    if not sys.stdin or not sys.stdin.isatty():
        return False
    return input(f"{question} [y/N] ").strip().lower() in {"y", "yes"}


def render(result: Any) -> None:
    """Print a handler's result: rich tables on a terminal, plain text when piped."""
    from jupyter_exp.commands import JSON, ExpShowView, PlotsPage, Table

    if result is None:
        return
    if isinstance(result, str):
        print(result)
    elif isinstance(result, JSON | PlotsPage):
        print(result.to_text())
    elif isinstance(result, Table):
        _print_table(result)
    elif isinstance(result, ExpShowView):
        _print_experiments(result)
    # other results (an ExpResult, say) were already reported through the log


def _print_experiments(view: ExpShowView) -> None:
    """The release's ``exp show`` table: tree glyphs in the first column, metrics then params."""
    from jupyter_exp.commands import Table

    header, body = view.table.to_text_rows(view.precision, timestamp=view.timestamp)
    if not sys.stdout.isatty():
        print(Table(header, body).to_text())
        return
    from rich.console import Console
    from rich.table import Table as RichTable

    rich_table = RichTable(box=None, header_style="bold", pad_edge=False)
    n_metrics = len(view.table.metric_columns())
    first_value = 2 if view.timestamp else 1
    for i, name in enumerate(header):
        style = (
            "yellow" if first_value <= i < first_value + n_metrics else "blue" if i >= first_value else None
        )
        rich_table.add_column(
            name, style=style, justify="right" if i >= first_value else "left", no_wrap=i == 0
        )
    for cells in body:
        rich_table.add_row(*cells)
    Console().print(rich_table)


def _print_table(table: Table) -> None:
    if not sys.stdout.isatty():
        print(table.to_text())
        return
    from rich.console import Console
    from rich.table import Table as RichTable

    rich_table = RichTable(title=table.title, box=None, header_style="bold")
    for column in table.columns:
        rich_table.add_column(column)
    for row in table.rows:
        rich_table.add_row(*("" if v is None else str(v) for v in row))
    Console().print(rich_table)


def main(argv: Sequence[str] | None = None) -> int:
    from jupyter_exp.cli import resident
    from jupyter_exp.commands import Context, execute, rich_progress
    from jupyter_exp.errors import JupyterExpError

    words = list(sys.argv[1:] if argv is None else argv)
    try:
        context = Context(log=_log, confirm=_confirm, progress=rich_progress, daemon=resident.manage)
        result = execute(words, context)
        render(result)
        if getattr(result, "interrupted", False):  # Ctrl-C ended checkpoint training: kept, yet not a success
            raise KeyboardInterrupt
    except JupyterExpError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("Interrupted: completed stages and checkpoints are saved.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `jupyter exp show | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return 0
    except OSError as err:  # the file system refused (permissions, disk full, name too long): say where
        where = f": '{err.filename}'" if err.filename else ""
        print(f"ERROR: {err.strerror or err}{where}", file=sys.stderr)
        return 1
    return 0


def _log(message: str) -> None:
    """Progress to stdout; warnings to stderr, as DVC writes them (so ``--json`` output stays parseable)."""
    print(message, flush=True, file=sys.stderr if message.startswith("WARNING:") else sys.stdout)


def run() -> None:
    """The ``jupyter-exp`` console script: ``main``, then a prompt exit.

    Everything the command wrote is closed by then (atomic writes, refs, the cache), so the
    interpreter's teardown (module cleanup, closing the state db's connection) would only add
    ~25 ms to every call: a tenth of an experiment's whole overhead. stdout/stderr are flushed first.
    A running daemon (``jupyter exp daemon start``) runs the command instead; never ``daemon`` itself.
    """
    from jupyter_exp.cli import resident

    words = sys.argv[1:]
    code = resident.forward(words) if words[:1] != ["daemon"] else None
    if code is None:
        code = main(words)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)
