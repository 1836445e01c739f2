"""The command table shared by ``jupyter exp ...`` and the ``%exp`` magics.

Each command is a name ("exp run"), its arguments and a handler ``(ctx, args) -> result``. Both front ends
build the same argparse parser from this table, so a flag cannot exist in one and not the other. Handlers
call the :class:`~jupyter_exp.repo.Repo` API and return data; the front end decides how to show it:
``None`` (nothing), ``str`` (a message), :class:`Table`, :class:`JSON`, or a domain object such as an
``ExpTable`` (the CLI prints a rich table, the notebook shows a widget).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from jupyter_exp.errors import ExperimentError, JupyterExpError
from jupyter_exp.fsutil import chdir
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
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.columns))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
        return "\n".join(lines)


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


# ---------------------------------------------------------------------------------------------------------
# pipeline commands


@command("init", "Create .dvc/ in this Git repository so jupyter-exp (and DVC) can use it")
def _init(ctx: Context, args: argparse.Namespace) -> str:
    repo = Repo.init(ctx.cwd)
    return f"Initialized jupyter-exp (DVC 3 layout) in '{repo.root}'"


@command(
    "stage list",
    "List the resolved stages",
    arg("--json", action="store_true", help="resolved definitions as JSON"),
    writes=False,
)
def _stage_list(ctx: Context, args: argparse.Namespace) -> Any:
    repo = ctx.repo()
    resolved: dict[str, Any] = {}
    for path, pipeline in repo.pipeline.resolved().items():
        for name, definition in pipeline.stages.items():
            key = name if path == "dvc.yaml" else f"{path}:{name}"
            resolved[key] = definition
    if args.json:
        return JSON(resolved)
    rows = []
    for name, definition in resolved.items():
        outs = [next(iter(o)) if isinstance(o, dict) else o for o in definition.get("outs", [])]
        rows.append([name, definition.get("desc") or ("Outputs " + ", ".join(outs) if outs else "")])
    return Table(["Stage", "Description"], rows)


def stage_spec(args: argparse.Namespace, cmd: str, extra_deps: Sequence[str] = ()) -> Any:
    """The stage that ``stage add``'s options describe (``%%stage`` builds its stages with this too)."""
    from jupyter_exp.pipeline.dvcfile import StageSpec

    return StageSpec.from_options(
        cmd=cmd,
        deps=[*extra_deps, *args.deps],
        outs=args.outs,
        outs_no_cache=args.outs_no_cache,
        params=args.params,
        metrics=args.metrics,
        metrics_no_cache=args.metrics_no_cache,
        plots=args.plots,
        plots_no_cache=args.plots_no_cache,
        checkpoints=args.checkpoint,
        live=args.live,
        wdir=args.wdir,
        desc=args.desc,
        always_changed=args.always_changed,
    )


@command(
    "stage add",
    "Add (or with --force replace) a stage in dvc.yaml",
    arg("-n", "--name", required=True),
    arg("-d", "--deps", action="append", default=[], metavar="PATH"),
    arg("-o", "--outs", action="append", default=[], metavar="PATH"),
    arg("-O", "--outs-no-cache", action="append", default=[], metavar="PATH"),
    arg("-p", "--params", action="append", default=[], metavar="[FILE:]KEYS"),
    arg("-m", "--metrics", action="append", default=[], metavar="PATH"),
    arg("-M", "--metrics-no-cache", action="append", default=[], metavar="PATH"),
    arg("--plots", action="append", default=[], metavar="PATH"),
    arg("--plots-no-cache", action="append", default=[], metavar="PATH"),
    arg("--live", metavar="DIR", help="DVC 2.0 live logger folder (summary + report)"),
    arg("-c", "--checkpoint", action="append", default=[], metavar="PATH", help="checkpoint output"),
    arg("-w", "--wdir"),
    arg("--desc"),
    arg("--always-changed", action="store_true"),
    arg("-f", "--force", action="store_true", help="replace an existing stage"),
    arg("cmd", nargs=argparse.REMAINDER),
)
def _stage_add(ctx: Context, args: argparse.Namespace) -> str:
    from jupyter_exp.pipeline.dvcfile import write_stage

    repo = ctx.repo()
    if not args.cmd:
        raise UsageError("stage add: a command is required, e.g. `stage add -n train python train.py`")
    spec = stage_spec(args, " ".join(args.cmd))
    dvcfile = Path(ctx.cwd).resolve() / "dvc.yaml"
    write_stage(repo.root, dvcfile, args.name, spec.definition, force=args.force)
    return f"Added stage '{args.name}' in '{dvcfile.relative_to(repo.root).as_posix()}'"


@command(
    "repro",
    "Reproduce the stages whose deps, params, command or outputs changed",
    arg("targets", nargs="*"),
    arg("-f", "--force", action="store_true", help="run even if nothing changed"),
    arg("-s", "--single-item", action="store_true", help="only the targets, not what they depend on"),
    arg("--dry", action="store_true", help="print the commands without running them"),
    arg("--downstream", action="store_true", help="the targets and what depends on them"),
    arg("-R", "--recursive", action="store_true", help="targets are directories: every stage inside"),
    arg(
        "--no-run-cache",
        action="store_true",
        help="always run; never restore outputs of an identical earlier run",
    ),
    runs_stages=True,
)
def _repro(ctx: Context, args: argparse.Namespace) -> None:
    repo = ctx.repo()
    ran = repo.pipeline.reproduce(
        args.targets or None,
        force=args.force,
        single_item=args.single_item,
        dry=args.dry,
        downstream=args.downstream,
        recursive=args.recursive,
        run_cache=not args.no_run_cache,
        on_output=ctx.on_output,
        stop=ctx.stop,
    )
    if not ran:
        ctx.log("Data and pipelines are up to date.")
    else:
        ctx.log("Use `git add dvc.lock` (and the changed files) to track the changes with Git.")


def _format_status(status: dict[str, list[Any]]) -> str:
    if not status:
        return "Data and pipelines are up to date."
    lines = []
    for name, entries in status.items():
        lines.append(f"{name}:")
        for entry in entries:
            if isinstance(entry, str):
                lines.append(f"\t{entry}")
                continue
            for title, changed in entry.items():
                lines.append(f"\t{title}:")
                for path, how in changed.items():
                    if isinstance(how, dict):
                        keys = ", ".join(f"{k} ({v})" for k, v in how.items())
                        lines.append(f"\t\tmodified:           {path}: {keys}")
                    else:
                        lines.append(f"\t\t{how + ':':<20}{path}")
    return "\n".join(lines).expandtabs(4)


@command(
    "status",
    "Show which stages changed and why",
    arg("targets", nargs="*"),
    arg("--json", action="store_true"),
    arg("-R", "--recursive", action="store_true"),
    writes=False,
)
def _status(ctx: Context, args: argparse.Namespace) -> Any:
    status = ctx.repo().pipeline.status(args.targets or None, recursive=args.recursive)
    return JSON(status) if args.json else _format_status(status)


@command("add", "Track data files or folders with PATH.dvc files and cache them", arg("paths", nargs="+"))
def _add(ctx: Context, args: argparse.Namespace) -> str:
    repo = ctx.repo()
    with chdir(ctx.cwd):
        written = repo.pipeline.add(args.paths)
    files = " ".join(written)
    return f"To track the changes with git, run:\n\n\tgit add {files} .gitignore".expandtabs(4)


@command(
    "checkout",
    "Restore outputs in the workspace from the cache, to match dvc.lock and .dvc files",
    arg("targets", nargs="*"),
    arg("-f", "--force", action="store_true", help="overwrite modified outputs"),
)
def _checkout(ctx: Context, args: argparse.Namespace) -> str:
    restored = ctx.repo().pipeline.checkout(args.targets or None, force=args.force)
    return "\n".join(f"M\t{p}" for p in restored).expandtabs(8) if restored else "Everything is up to date."


@command(
    "commit", "Record the current outputs in dvc.lock without running commands", arg("targets", nargs="*")
)
def _commit(ctx: Context, args: argparse.Namespace) -> str:
    committed = ctx.repo().pipeline.commit(args.targets or None)
    return "Committed: " + ", ".join(committed) if committed else "Nothing to commit."


@command(
    "dag",
    "Show the stage graph",
    arg("targets", nargs="*"),
    arg("--dot", action="store_true"),
    arg("--mermaid", action="store_true"),
    arg("-o", "--outs", action="store_true", help="graph of outputs instead of stages"),
    writes=False,
)
def _dag(ctx: Context, args: argparse.Namespace) -> str:
    from jupyter_exp.pipeline.dagview import render_ascii, render_dot, render_mermaid

    graph = ctx.repo().pipeline.graph()
    if args.dot:
        return render_dot(graph, args.targets)
    if args.mermaid:
        return render_mermaid(graph, args.targets)
    return render_ascii(graph, args.targets)


# ---------------------------------------------------------------------------------------------------------
# metrics and params over revisions


def _diff_revs(a: str | None, b: str | None) -> tuple[str, str]:
    """DVC's defaults: no revision = HEAD vs workspace; one revision = it vs workspace."""
    return (a or "HEAD"), (b or "workspace")


_REV_ARGS = (arg("a_rev", nargs="?", metavar="A"), arg("b_rev", nargs="?", metavar="B"))
_TABLE_ARGS = (
    arg("--targets", nargs="+", metavar="PATH", help="only these files"),
    arg("--all", action="store_true", help="unchanged values too"),
    arg("--json", action="store_true"),
    arg("--md", action="store_true", help="markdown table"),
)


@command(
    "metrics show",
    "Show metrics of the workspace (or of every branch/commit)",
    arg("targets", nargs="*"),
    arg("-a", "--all-branches", action="store_true"),
    arg("-A", "--all-commits", action="store_true"),
    arg("--json", action="store_true"),
    arg("--md", action="store_true"),
    arg("--precision", type=int),
    writes=False,
)
def _metrics_show(ctx: Context, args: argparse.Namespace) -> Any:
    from jupyter_exp.metrics import render_metrics_show

    repo = ctx.repo()
    revs = ["workspace"]
    if args.all_branches:
        revs += sorted(repo.scm.branches())
    if args.all_commits:
        revs += repo.scm.all_commits()
    shown = repo.metrics.show(revs, args.targets or None, flat=not args.json)
    if args.json:
        return JSON(
            {
                rev: {"data": {path: {"data": values} for path, values in files.items()}}
                for rev, files in shown.items()
            }
        )
    return render_metrics_show(shown, markdown=args.md, precision=args.precision) or "No metrics found."


@command(
    "metrics diff",
    "Compare metrics between two revisions (default: HEAD vs workspace)",
    *_REV_ARGS,
    *_TABLE_ARGS,
    arg("--precision", type=int),
    writes=False,
)
def _metrics_diff(ctx: Context, args: argparse.Namespace) -> Any:
    from jupyter_exp.metrics import render_metrics_diff

    return _diff_result(
        args,
        ctx.repo().metrics.diff,
        lambda rows: render_metrics_diff(rows, markdown=args.md, precision=args.precision),
    )


@command(
    "params diff",
    "Compare params between two revisions (default: HEAD vs workspace)",
    *_REV_ARGS,
    *_TABLE_ARGS,
    writes=False,
)
def _params_diff(ctx: Context, args: argparse.Namespace) -> Any:
    from jupyter_exp.params import render_params_diff

    return _diff_result(args, ctx.repo().params.diff, lambda rows: render_params_diff(rows, markdown=args.md))


def _diff_result(
    args: argparse.Namespace, diff: Callable[..., list[Any]], render: Callable[[list[Any]], str]
) -> Any:
    """What ``metrics diff`` and ``params diff`` share: DVC's default revisions, then JSON or a table."""
    from jupyter_exp.params import diff_json

    old, new = _diff_revs(args.a_rev, args.b_rev)
    rows = diff(old, new, args.targets, all=args.all)
    return JSON(diff_json(rows)) if args.json else render(rows)


# ---------------------------------------------------------------------------------------------------------
# experiments (`jupyter exp run` is DVC's `dvc exp run`)


@command(
    "run",
    "Run an experiment: apply -S overrides, reproduce, commit the result under refs/exps",
    arg("targets", nargs="*"),
    arg("-S", "--set-param", action="append", default=[], metavar="[FILE:]KEY=VALUE", dest="set_param"),
    arg("-n", "--name", help="experiment name (default: exp-<5 hex>)"),
    arg("-f", "--force", action="store_true", help="replace an experiment of the same name"),
    arg("--reset", action="store_true", help="start checkpoint training from scratch"),
    arg("--queue", action="store_true", help="record the experiment for --run-all instead of running it"),
    arg("--run-all", action="store_true", help="run the queued experiments, each in its own workspace"),
    arg("-j", "--jobs", type=int, default=1, metavar="N", help="queued experiments to run at once"),
    arg("--executor", choices=["local", "dask"], help="--run-all in local processes (default) or on Dask"),
    arg("--dask", metavar="ADDRESS", help="--run-all on the Dask scheduler at ADDRESS (tcp://host:8786)"),
    runs_stages=True,
)
def _exp_run(ctx: Context, args: argparse.Namespace) -> Any:
    repo = ctx.repo()
    if (args.executor or args.dask) and not args.run_all:
        raise UsageError("run: --executor and --dask choose where --run-all runs the queue")
    if args.run_all:
        if args.set_param or args.name or args.queue or args.targets or args.reset:
            raise UsageError("run --run-all runs the queue as it is: queue experiments with `run --queue`")
        if args.jobs < 1:
            raise UsageError(f"run: --jobs must be at least 1, not {args.jobs}")
        if args.executor == "local" and args.dask:
            raise UsageError("run: --dask runs the queue on Dask; it cannot go with --executor local")
        use_dask = (
            args.dask or args.executor == "dask"
        )  # without an address: a local cluster of --jobs workers
        results = repo.experiments.run_all(jobs=args.jobs, stop=ctx.stop, dask=use_dask)
        failed = [r for r in results if r.error]
        if failed:
            raise ExperimentError(
                f"{len(failed)} of {len(results)} queued experiments failed: "
                f"{', '.join(r.name for r in failed)} (kept in the queue, marked failed)"
            )
        return None
    if args.queue:
        repo.experiments.run(
            args.set_param, name=args.name, force=args.force, targets=args.targets or None, queue=True
        )
        return None
    result = repo.experiments.run(
        args.set_param,
        name=args.name,
        force=args.force,
        targets=args.targets or None,
        reset=args.reset,
        on_output=ctx.on_output,
        stop=ctx.stop,
    )
    return result


@dataclass
class ExpShowView:
    """``show``'s table with its display options (the CLI prints it, the notebook makes a widget)."""

    table: Any
    precision: int | None = None
    timestamp: bool = True


@command(
    "show",
    "Table of experiments with their params and metrics",
    arg("-a", "--all-branches", action="store_true"),
    arg("-T", "--all-tags", action="store_true"),
    arg("-A", "--all-commits", action="store_true"),
    arg("-n", "--num", type=int, default=1, help="baselines to show, from HEAD back"),
    arg("--include-params", action="append", metavar="GLOB"),
    arg("--exclude-params", action="append", metavar="GLOB"),
    arg("--include-metrics", action="append", metavar="GLOB"),
    arg("--exclude-metrics", action="append", metavar="GLOB"),
    arg("--sort-by", metavar="KEY"),
    arg("--sort-order", choices=["asc", "desc"], default="asc"),
    arg("--no-timestamp", action="store_true"),
    arg("--precision", type=int),
    arg("--only-changed", action="store_true", help="hide params and metrics that are the same in every row"),
    arg("--json", action="store_true"),
    arg("--csv", action="store_true"),
    arg("--md", action="store_true"),
    arg("--no-pager", action="store_true", help="accepted for DVC compatibility: output is never paged"),
    writes=False,
)
def _exp_show(ctx: Context, args: argparse.Namespace) -> Any:
    table = ctx.repo().experiments.show(
        num=args.num,
        all_branches=args.all_branches,
        all_tags=args.all_tags,
        all_commits=args.all_commits,
        include_params=args.include_params,
        exclude_params=args.exclude_params,
        include_metrics=args.include_metrics,
        exclude_metrics=args.exclude_metrics,
        sort_by=args.sort_by,
        sort_order=args.sort_order,
        only_changed=args.only_changed,
    )
    if args.json:
        return JSON(json.loads(table.to_json()))
    if args.csv:
        return table.to_csv().rstrip("\n")
    if args.md:
        return table.to_markdown(args.precision).rstrip("\n")
    return ExpShowView(table, args.precision, not args.no_timestamp)


@command(
    "diff",
    "Compare metrics and params of two experiments or revisions (default: workspace vs HEAD)",
    *_REV_ARGS,
    arg("--all", action="store_true", help="unchanged values too"),
    arg("--old", action="store_true", help="show the old value too"),
    arg("--precision", type=int),
    arg("--json", action="store_true"),
    arg("--md", action="store_true"),
    writes=False,
)
def _exp_diff(ctx: Context, args: argparse.Namespace) -> Any:
    from jupyter_exp.params.compare import render_table

    result = ctx.repo().experiments.diff(args.a_rev, args.b_rev, include_all=args.all)
    if args.json:
        return JSON(result.to_dict())
    tables = []
    for kind in ("metrics", "params"):
        header, body = result.rows(kind, old=args.old, precision=args.precision)
        if body:
            tables.append(render_table(header, body, markdown=args.md))
    return "\n\n".join(tables) or "No changes."


@command(
    "apply",
    "Bring an experiment's params, code, metrics and outputs into the workspace",
    arg("experiment"),
    arg("-f", "--force", action="store_true", help="overwrite uncommitted changes"),
)
def _exp_apply(ctx: Context, args: argparse.Namespace) -> None:
    ctx.repo().experiments.apply(args.experiment, force=args.force)


@command("branch", "Create a Git branch from an experiment", arg("experiment"), arg("branch", nargs="?"))
def _exp_branch(ctx: Context, args: argparse.Namespace) -> str:
    return ctx.repo().experiments.branch(args.experiment, args.branch)


@command(
    "list",
    "List experiments by baseline",
    arg("rev", nargs="?"),
    arg("-a", "--all", action="store_true", help="every baseline, not only HEAD"),
    arg("--names-only", action="store_true"),
    writes=False,
)
def _exp_list(ctx: Context, args: argparse.Namespace) -> str:
    listing = ctx.repo().experiments.list(args.rev, all=args.all)
    if args.names_only:
        return "\n".join(name for names in listing.values() for name in names)
    lines = []
    for baseline, names in listing.items():
        lines.append(f"{baseline}:")
        lines += [f"    {name}" for name in names]
    return "\n".join(lines) or "No experiments."


@command(
    "remove",
    "Remove experiments",
    arg("names", nargs="*"),
    arg("-A", "--all-commits", action="store_true", help="every experiment of every baseline"),
    arg("--rev", help="the experiments of this baseline"),
    arg("--queue", action="store_true", help="queued experiments"),
)
def _exp_remove(ctx: Context, args: argparse.Namespace) -> None:
    if not (args.names or args.all_commits or args.rev or args.queue):
        raise UsageError("remove: name experiments, or use --all-commits, --rev REV or --queue")
    ctx.repo().experiments.remove(args.names, rev=args.rev, all_commits=args.all_commits, queue=args.queue)


@command(
    "gc",
    "Remove experiments whose baselines are not kept, then cache objects nothing kept references",
    arg("-w", "--workspace", action="store_true", help="keep the workspace's baseline (HEAD)"),
    arg("-a", "--all-branches", action="store_true", help="keep every branch tip"),
    arg("-T", "--all-tags", action="store_true", help="keep every tag"),
    arg("-A", "--all-commits", action="store_true", help="keep every commit"),
    arg("--queued", action="store_true", help="keep queued experiments"),
    arg("-f", "--force", action="store_true", help="do not ask for confirmation"),
)
def _gc(ctx: Context, args: argparse.Namespace) -> str:
    if not (args.workspace or args.all_branches or args.all_tags or args.all_commits):
        raise UsageError(
            "gc: say what to keep: -w/--workspace, -a/--all-branches, -T/--all-tags or -A/--all-commits"
        )
    repo = ctx.repo()
    confirm = None if args.force else ctx.confirm
    removed = repo.experiments.gc(
        workspace=args.workspace,
        all_branches=args.all_branches,
        all_tags=args.all_tags,
        all_commits=args.all_commits,
        queued=args.queued,
        confirm=confirm,
    )
    objects = repo.gc(workspace=False)
    return f"Removed {len(removed)} experiments and {objects} unreferenced cache objects."


_EXP_SYNC_ARGS = (
    arg("remote"),
    arg("names", nargs="*"),
    arg("-A", "--all", action="store_true"),
    arg("-f", "--force", action="store_true"),
)


@command("push", "Push experiments to a Git remote", *_EXP_SYNC_ARGS)
def _exp_push(ctx: Context, args: argparse.Namespace) -> None:
    ctx.repo().experiments.push(args.remote, args.names, all=args.all, force=args.force)


@command("pull", "Pull experiments from a Git remote", *_EXP_SYNC_ARGS)
def _exp_pull(ctx: Context, args: argparse.Namespace) -> None:
    ctx.repo().experiments.pull(args.remote, args.names, all=args.all, force=args.force)


# ---------------------------------------------------------------------------------------------------------
# plots


@dataclass
class PlotsPage:
    """A written plots page: the CLI prints its ``file://`` URL, the notebook shows it inline."""

    path: Path

    def to_text(self) -> str:
        return self.path.resolve().as_uri()


_PLOT_ARGS = (
    arg("-o", "--out", default="dvc_plots", help="folder for index.html (default: dvc_plots)"),
    arg("-t", "--template", help="linear, scatter, smooth, confusion or bar"),
    arg("-x", help="field for the x axis"),
    arg("-y", help="field for the y axis"),
    arg("--title"),
    arg("--json", action="store_true", help="the data instead of a page"),
)


def _plot_props(args: argparse.Namespace) -> dict[str, Any]:
    props = {"template": args.template, "x": args.x, "y": args.y, "title": args.title}
    return {k: v for k, v in props.items() if v is not None}


def _plots(ctx: Context, args: argparse.Namespace, revs: list[str], targets: list[str] | None) -> Any:
    plots = ctx.repo().plots
    if args.json:
        return JSON(plots.data(revs, targets, props=_plot_props(args)))
    return PlotsPage(plots.diff(revs, targets, out_dir=args.out, props=_plot_props(args)))


@command(
    "plots show",
    "Plot the workspace's plots files into one offline HTML page",
    arg("targets", nargs="*"),
    *_PLOT_ARGS,
    writes=False,
)
def _plots_show(ctx: Context, args: argparse.Namespace) -> Any:
    return _plots(ctx, args, ["workspace"], args.targets or None)


@command(
    "plots diff",
    "Overlay plots of revisions, experiments and the workspace (default: HEAD vs workspace)",
    arg("revisions", nargs="*"),
    arg("--targets", nargs="+", metavar="PATH"),
    *_PLOT_ARGS,
    writes=False,
)
def _plots_diff(ctx: Context, args: argparse.Namespace) -> Any:
    revs = list(args.revisions) or ["HEAD"]
    if "workspace" not in revs and len(args.revisions) < 2:
        revs.append("workspace")
    return _plots(ctx, args, revs, args.targets)


# ---------------------------------------------------------------------------------------------------------
# data remotes (DVC's `remote`, `push`, `fetch`, `pull`; `push`/`pull` alone are the experiments' here)


@command(
    "remote add",
    "Add a data remote (a local path or an fsspec URL) to .dvc/config",
    arg("name"),
    arg("url"),
    arg("-d", "--default", action="store_true", help="make it the default remote"),
    arg("-f", "--force", action="store_true", help="replace a remote of the same name"),
    arg("--local", action="store_true", help="write to .dvc/config.local (not tracked by Git)"),
)
def _remote_add(ctx: Context, args: argparse.Namespace) -> str:
    from jupyter_exp.data.remote import add_remote

    repo = ctx.repo()
    url = add_remote(
        repo.root, args.name, args.url, default=args.default, force=args.force, local=args.local, cwd=ctx.cwd
    )
    default = " (default)" if args.default else ""
    return f"Added remote '{args.name}'{default}: {url}"


@command("remote list", "List the data remotes", writes=False)
def _remote_list(ctx: Context, args: argparse.Namespace) -> str:
    from jupyter_exp.data.remote import default_remote, list_remotes

    root = ctx.repo().root
    default = default_remote(root)
    lines = [
        f"{name}\t{url}" + ("\t(default)" if name == default else "")
        for name, url in list_remotes(root).items()
    ]
    return "\n".join(lines).expandtabs(8) or "No remotes: add one with `remote add -d NAME URL`."


@command("remote remove", "Remove a data remote from .dvc/config", arg("name"))
def _remote_remove(ctx: Context, args: argparse.Namespace) -> str:
    from jupyter_exp.data.remote import remove_remote

    remove_remote(ctx.repo().root, args.name)
    return f"Removed remote '{args.name}'"


@command(
    "remote default",
    "Show or set the default data remote",
    arg("name", nargs="?"),
    arg("--unset", action="store_true", help="no default remote"),
    arg("--local", action="store_true", help="write to .dvc/config.local"),
)
def _remote_default(ctx: Context, args: argparse.Namespace) -> str:
    from jupyter_exp.data.remote import default_remote, set_default_remote

    root = ctx.repo().root
    if args.unset or args.name:
        set_default_remote(root, None if args.unset else args.name, local=args.local)
    return default_remote(root) or "No default remote."


_TRANSFER_ARGS = (
    arg("targets", nargs="*", help="stages or outputs (default: all of the workspace's)"),
    arg("-r", "--remote", metavar="NAME", help="data remote (default: core.remote)"),
    arg("-j", "--jobs", type=int, metavar="N", help="parallel transfers (default: 4 per CPU, at most 32)"),
    arg("-a", "--all-branches", action="store_true", help="outputs of every branch tip too"),
    arg("-A", "--all-commits", action="store_true", help="outputs of every commit too"),
)


@contextmanager
def _transfer_bar(ctx: Context, description: str) -> Iterator[Callable[[int, int], None] | None]:
    """The front end's progress bar for a transfer, counted in files, closed even when it fails."""
    bar = ctx.progress(description, "files") if ctx.progress is not None else None
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()


def _transfer_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {args.jobs}")
    return {
        "remote": args.remote,
        "jobs": args.jobs,
        "all_branches": args.all_branches,
        "all_commits": args.all_commits,
    }


def _files(count: int) -> str:
    return f"{count} file{'' if count == 1 else 's'}"


@command("data push", "Upload cached outputs the data remote lacks (DVC's `dvc push`)", *_TRANSFER_ARGS)
def _data_push(ctx: Context, args: argparse.Namespace) -> str:
    repo = ctx.repo()
    with chdir(ctx.cwd), _transfer_bar(ctx, "Pushing") as progress:
        result = repo.push(args.targets or None, progress=progress, **_transfer_options(args))
    return f"{_files(result.transferred)} pushed" if result.transferred else "Everything is up to date."


@command("data fetch", "Download outputs' objects into the cache from the data remote", *_TRANSFER_ARGS)
def _data_fetch(ctx: Context, args: argparse.Namespace) -> str:
    repo = ctx.repo()
    with chdir(ctx.cwd), _transfer_bar(ctx, "Fetching") as progress:
        result = repo.fetch(args.targets or None, progress=progress, **_transfer_options(args))
    return f"{_files(result.transferred)} fetched" if result.transferred else "Everything is up to date."


@command(
    "data pull",
    "Fetch outputs from the data remote and check them out in the workspace",
    *_TRANSFER_ARGS,
    arg("-f", "--force", action="store_true", help="overwrite modified outputs"),
)
def _data_pull(ctx: Context, args: argparse.Namespace) -> str:
    repo = ctx.repo()
    with chdir(ctx.cwd), _transfer_bar(ctx, "Fetching") as progress:
        result, restored = repo.pull(
            args.targets or None, force=args.force, progress=progress, **_transfer_options(args)
        )
    lines = [f"M\t{path}".expandtabs(8) for path in restored]
    if result.transferred or restored:
        lines.append(f"{_files(result.transferred)} fetched, {_files(len(restored))} checked out")
    return "\n".join(lines) or "Everything is up to date."
