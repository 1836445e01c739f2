"""The command table shared by ``jupyter exp ...`` and the ``%exp`` magics.

Each command is a name ("exp run"), its arguments and a handler ``(ctx, args) -> result``. Both front ends
build the same argparse parser from this table, so a flag cannot exist in one and not the other. Handlers
call the :class:`~jupyter_exp.repo.Repo` API and return data; the front end decides how to show it:
``None`` (nothing), ``str`` (a message), :class:`Table`, :class:`JSON`, or a domain object such as an
``ExpTable`` (the CLI prints a rich table, the notebook shows a widget).

This module is the table's machinery (parsing, ``Context``, progress bars); the commands live by topic in
``pipeline.py``, ``experiments.py``, ``compare.py`` (metrics, params, plots) and ``data.py`` (remotes), each
importing only this module, and register themselves in ``COMMANDS`` when the package is imported.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from jupyter_exp.errors import JupyterExpError
from jupyter_exp.repo import Repo


class UsageError(JupyterExpError):
    """Bad command-line words."""

    exit_code = 2


@dataclass
class Table:
    """A plain table a front end can render as rich text or HTML."""

    columns: list[str]
    rows: list[list[Any]]
    title: str | None = None

    def to_text(self) -> str:
        cells = [self.columns] + [["" if v is None else str(v) for v in row] for row in self.rows]
        widths = [max(map(len, column)) for column in zip(*cells, strict=True)]
        return "\n".join("  ".join(map(str.ljust, row, widths)).rstrip() for row in cells)


@dataclass
class JSON:
    """Data to print as JSON (``--json``)."""

    data: Any

    def to_text(self) -> str:
        return json.dumps(self.data, indent=2, default=str)


@dataclass
class Context:
    """What a front end gives the handlers: where the repo is, and how to talk to the user."""

    cwd: Path = field(default_factory=Path.cwd)
    log: Callable[[str], None] = print
    on_output: Callable[[str], None] | None = None  # None: stage commands write to the terminal directly
    confirm: Callable[[str], bool] = lambda _question: False
    init_if_missing: bool = False
    stop: threading.Event | None = None  # set from another thread: stop a run as Ctrl-C would
    progress: Callable[..., ProgressBar | None] | None = None  # (what, unit) -> a bar; None draws nothing
    daemon: Callable[[str, float], str] | None = None  # (action, idle minutes) -> report; the terminal's

    def repo(self) -> Repo:
        if self.init_if_missing:
            repo, created = Repo.find_or_init(self.cwd, log=self.log, progress=self.progress)
            if created:
                self.log(f"Initialized jupyter-exp (DVC 3 layout) in '{repo.root}'")
            return repo
        return Repo(self.cwd, log=self.log, progress=self.progress)


class ProgressBar:
    """A rich progress bar for long data work, drawn only once the work turns out to be large.

    Called as ``bar(done, total)``; it closes itself when ``done`` reaches ``total`` (``close()`` for
    work that stops early). ``unit`` is "bytes" (hashing, caching, checkout) or "files" (transfers).
    rich is imported only when a bar is drawn: small work (most of it) costs nothing.
    """

    MIN_TOTAL = {"bytes": 32 * 1024 * 1024, "files": 20}  # smaller work ends before a bar would help

    def __init__(self, what: str, unit: str) -> None:
        self.what, self.unit = what, unit
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            if total < self.MIN_TOTAL.get(self.unit, 0) or done >= total:
                return
            from rich import progress as rp
            from rich.console import Console

            columns: list[Any] = ["[progress.description]{task.description}", rp.BarColumn()]
            if self.unit == "bytes":
                columns += [rp.DownloadColumn(), rp.TransferSpeedColumn()]
            else:
                columns += [rp.MofNCompleteColumn()]
            console = Console(stderr=True)
            self._bar = rp.Progress(*columns, rp.TimeRemainingColumn(), console=console, transient=True)
            self._task = self._bar.add_task(self.what, total=total)
            self._bar.start()
        self._bar.update(self._task, completed=done, total=total)
        if done >= total:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def rich_progress(what: str, unit: str = "bytes") -> ProgressBar | None:
    """The :class:`Context` ``progress`` both front ends use: bars on a terminal or in a notebook only."""
    if sys.stderr.isatty() or "ipykernel" in sys.modules:
        return ProgressBar(what, unit)
    return None


Handler = Callable[[Context, argparse.Namespace], Any]


@dataclass
class Command:
    name: str
    help: str
    arguments: list[tuple[tuple[str, ...], dict[str, Any]]]
    handler: Handler
    writes: bool = True  # False: only reads (a front end never creates .dvc/ for it)
    runs_stages: bool = False  # streams stage output; the notebook shows live plots and allows --bg


COMMANDS: dict[str, Command] = {}


def arg(*flags: str, **options: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    return flags, options


def command(
    name: str,
    help: str,
    *arguments: tuple[tuple[str, ...], dict[str, Any]],
    writes: bool = True,
    runs_stages: bool = False,
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        COMMANDS[name] = Command(name, help, list(arguments), handler, writes, runs_stages)
        return handler

    return register


class _Parser(argparse.ArgumentParser):
    """Never prints or exits (a notebook kernel must survive `--help` and bad words): it raises instead."""

    def error(self, message: str) -> Any:
        raise UsageError(f"{self.prog}: {message}\n{self.format_usage().strip()}")

    def print_help(self, file: Any = None) -> None:
        raise _HelpShown(self.format_help())

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        raise _HelpShown(message or "")


class _HelpShown(Exception):
    pass


_GROUP_HELP = {
    "stage": "List the resolved stages, or add one to dvc.yaml",
    "metrics": "Show metrics, or compare them across revisions and experiments",
    "params": "Compare params across revisions and experiments",
    "plots": "Plot metrics files of the workspace or of several revisions on one offline page",
    "remote": "Configure data remotes (any fsspec URL)",
    "data": "Push, fetch and pull cached outputs to and from a data remote",
    "daemon": "Keep a warm process that starts terminal commands in milliseconds",
}


def _add_arguments(parser: argparse.ArgumentParser, spec: Command) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors and results")
    for flags, options in spec.arguments:
        parser.add_argument(*flags, **options)
    parser.set_defaults(_command=spec)


def build_parser(prog: str = "jupyter exp") -> argparse.ArgumentParser:
    """The whole command tree (for help and for words that name no command)."""
    parser = _Parser(
        prog=prog, description="Pipelines, experiments, checkpoints and live metrics (DVC 3 formats)."
    )
    parser.add_argument("-V", "--version", action="store_true", help="print the version")
    groups: dict[str, argparse._SubParsersAction[Any]] = {}
    top = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    groups[""] = top
    for name in sorted(COMMANDS, key=lambda n: (n.count(" "), n)):
        spec = COMMANDS[name]
        parent, _, leaf = name.rpartition(" ")
        if parent not in groups:
            group_parser = groups[""].add_parser(parent, help=_GROUP_HELP.get(parent, f"{parent} commands"))
            groups[parent] = group_parser.add_subparsers(dest=f"{parent}_command", metavar="COMMAND")
            group_parser.set_defaults(_group=group_parser)
        _add_arguments(groups[parent].add_parser(leaf, help=spec.help, description=spec.help), spec)
    return parser


def named_command(words: Sequence[str]) -> Command | None:
    """The command the leading words name (``metrics diff``, ``run``), if any."""
    for size in (2, 1):
        spec = COMMANDS.get(" ".join(words[:size])) if len(words) >= size else None
        if spec is not None:
            return spec
    return None


def parse(argv: Sequence[str], prog: str = "jupyter exp") -> tuple[Command | None, argparse.Namespace, str]:
    """Parse words into (command, args, help text); command is None when only help was asked for.

    A command's words are parsed by that command's parser alone (same arguments, same usage text as
    in the tree): building the whole tree for every call would cost a CLI start ~20 ms.
    """
    words = list(argv)
    if (
        words[:1] == ["exp"] and len(words) > 1
    ):  # `jupyter-exp exp run` == `jupyter exp run`, as `dvc exp run`
        words = words[1:]
    spec = named_command(words)
    if spec is not None:
        parser = _Parser(prog=f"{prog} {spec.name}", description=spec.help)
        _add_arguments(parser, spec)
        words = words[spec.name.count(" ") + 1 :]
    else:
        parser = build_parser(prog)
    try:
        args = parser.parse_args(words)
    except _HelpShown as shown:
        return None, argparse.Namespace(), str(shown)
    spec = getattr(args, "_command", None)
    if spec is None:
        group = getattr(args, "_group", parser)
        return None, args, group.format_help()
    return spec, args, ""


def execute(argv: Sequence[str], ctx: Context, prog: str = "jupyter exp") -> Any:
    spec, args, help_text = parse(argv, prog)
    if spec is None:
        if getattr(args, "version", False):
            from importlib.metadata import version

            return version("jupyter-exp")
        return help_text
    if args.quiet:
        ctx = replace(ctx, log=_silent, progress=None)
    return spec.handler(ctx, args)


def _silent(_: str) -> None:
    pass


#: The two revisions a diff compares (default: HEAD vs the workspace), shared by the diff commands.
REV_ARGS = (arg("a_rev", nargs="?", metavar="A"), arg("b_rev", nargs="?", metavar="B"))
