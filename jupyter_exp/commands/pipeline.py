"""Pipeline commands: init, stage list/add, repro, status, add, checkout, commit, dag."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jupyter_exp.commands.table import (
    JSON,
    Context,
    Table,
    UsageError,
    arg,
    command,
)
from jupyter_exp.fsutil import chdir
from jupyter_exp.repo import Repo


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
    repo.pipeline.graph()  # the same checks as every other command (paths, output clashes)
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


def stage_spec(
    args: argparse.Namespace, cmd: str, extra_deps: Sequence[str] = (), *, directory: Path | None = None
) -> Any:
    """The stage that ``stage add``'s options describe (``%%stage`` builds its stages with this too).

    With ``--notebook`` the command is papermill's, the notebook a dep and its executed copy an output;
    ``directory`` (where dvc.yaml is) is where the notebook and params.yaml are read.
    """
    from jupyter_exp.types import StageSpec

    outs = args.outs
    if args.notebook:
        if cmd:
            raise UsageError(f"stage add --notebook {args.notebook}: the command is papermill's, not '{cmd}'")
        cmd, outs = Repo.notebook_stage(args.notebook, args.params, outs, directory=directory or Path.cwd())
        extra_deps = [args.notebook, *extra_deps]
    return StageSpec.from_options(
        cmd=cmd,
        deps=[*extra_deps, *args.deps],
        outs=outs,
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
    arg(
        "--notebook",
        metavar="NOTEBOOK",
        help="the stage runs this notebook with papermill, -p params injected into its parameters cell",
    ),
    arg("cmd", nargs=argparse.REMAINDER),
)
def _stage_add(ctx: Context, args: argparse.Namespace) -> str:
    repo = ctx.repo()
    if not args.cmd and not args.notebook:
        raise UsageError("stage add: a command is required, e.g. `stage add -n train python train.py`")
    spec = stage_spec(args, " ".join(args.cmd), directory=Path(ctx.cwd).resolve())
    dvcfile = (Path(ctx.cwd).resolve() / "dvc.yaml").relative_to(repo.root).as_posix()
    repo.add_stage(args.name, spec.definition, dvcfile=dvcfile, force=args.force)
    return f"Added stage '{args.name}' in '{dvcfile}'"


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
                    if isinstance(how, dict):  # a params file: its keys one level down
                        lines.append(f"\t\t{path}:")
                        lines.extend(f"\t\t\t{v + ':':<20}{k}" for k, v in how.items())
                    else:
                        lines.append(f"\t\t{how + ':':<20}{path}")
    return "\n".join(lines)  # tabs, as dvc status prints them


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
    return ctx.repo().dag(args.targets, dot=args.dot, mermaid=args.mermaid)
