"""The command table shared by ``jupyter exp ...`` and the ``%exp`` magics.

``table.py`` holds its machinery (``Command``, ``Context``, parsing, the result types); the commands live by
topic in ``pipeline.py``, ``experiments.py``, ``compare.py``, ``data.py`` and ``daemon.py`` and register
themselves when imported here. Front ends import this package; nothing in it imports the package back.
"""

from __future__ import annotations

from jupyter_exp.commands import compare, daemon, data, experiments, pipeline  # noqa: F401  (they register their commands)
from jupyter_exp.commands.compare import PlotsPage
from jupyter_exp.commands.experiments import ExpShowView
from jupyter_exp.commands.pipeline import stage_spec
from jupyter_exp.commands.table import (
    COMMANDS,
    JSON,
    Command,
    Context,
    ProgressBar,
    Table,
    UsageError,
    arg,
    build_parser,
    command,
    execute,
    named_command,
    parse,
    rich_progress,
)

__all__ = [
    "COMMANDS",
    "JSON",
    "Command",
    "Context",
    "ExpShowView",
    "PlotsPage",
    "ProgressBar",
    "Table",
    "UsageError",
    "arg",
    "build_parser",
    "command",
    "execute",
    "named_command",
    "parse",
    "rich_progress",
    "stage_spec",
]
