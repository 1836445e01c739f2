"""Experiment commands (`jupyter exp run` is DVC's `dvc exp run`)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

from jupyter_exp.commands.table import (
    JSON,
    REV_ARGS,
    Context,
    Table,
    UsageError,
    arg,
    command,
)
from jupyter_exp.errors import ExperimentError


@command(
    "run",
    "Run an experiment: apply -S overrides, reproduce, commit the result under refs/exps",
    arg("targets", nargs="*"),
    arg(
        "-S",
        "--set-param",
        action="append",
        default=[],
        metavar="[FILE:]KEY=VALUE",
        dest="set_param",
        help="a param override; 'lr=0.1,0.2' or 'epochs=range(1,3)' makes a grid of experiments",
    ),
    arg("-n", "--name", help="experiment name (default: exp-<5 hex>; NAME-1, NAME-2 .. for a grid)"),
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
    if repo.experiments.is_grid(args.set_param):
        results = repo.experiments.grid(
            args.set_param,
            name=args.name,
            force=args.force,
            targets=args.targets or None,
            queue=args.queue,
            on_output=ctx.on_output,
            stop=ctx.stop,
        )
        if args.queue:
            return f"Queued {len(results)} experiments: `jupyter exp run --run-all` runs them."
        if results and results[-1].interrupted:
            return results[-1]
        return f"Ran {len(results)} experiments: {', '.join(r.name for r in results)}"
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


@command(
    "sweep",
    "Search params with Optuna: each trial a queued experiment, run in its own workspace and committed",
    arg("targets", nargs="*"),
    arg("--optuna", type=int, required=True, metavar="N", help="trials to run (more, when resuming a study)"),
    arg(
        "-S",
        "--set-param",
        action="append",
        default=[],
        metavar="[FILE:]KEY=SPACE",
        dest="set_param",
        help="'lr=loguniform(1e-4,1e-1)', 'layers=int(1,4)', 'opt=adam,sgd'; a plain value is fixed",
    ),
    arg("--objective", required=True, metavar="METRIC", help="metric to optimise: acc, or metrics.json:acc"),
    arg("--direction", choices=["minimize", "maximize"], default="minimize"),
    arg("-j", "--jobs", type=int, default=1, metavar="J", help="trials to run at once"),
    arg("--study", metavar="NAME", help="study name (default: derived from the space and objective)"),
    arg("--seed", type=int, help="seed of Optuna's sampler"),
)
def _exp_sweep(ctx: Context, args: argparse.Namespace) -> Table:
    result = ctx.repo().experiments.sweep(
        args.set_param,
        args.optuna,
        objective=args.objective,
        direction=args.direction,
        jobs=args.jobs,
        study=args.study,
        seed=args.seed,
        targets=args.targets or None,
        stop=ctx.stop,
    )
    keys = list(dict.fromkeys(k for t in result.trials for k in t.params))
    best = result.best.number if result.best else None
    rows = [
        [
            f"{t.number}{' *' if t.number == best else ''}",
            t.name or "-",
            t.state,
            "-" if t.value is None else f"{t.value:.5g}",
            *(t.params.get(k, "-") for k in keys),
        ]
        for t in sorted(result.trials, key=lambda t: t.number)
    ]
    title = f"Study '{result.study}': best trial " + (
        f"{best} ({result.best.name}, {result.objective} = {result.best.value:.5g})" if result.best else "none yet"
    )
    ctx.log(title)
    return Table(["Trial", "Experiment", "State", result.objective, *keys], rows, title=title)


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
    *REV_ARGS,
    arg("--all", action="store_true", help="unchanged values too"),
    arg("--no-path", action="store_true", help="without the file column"),
    arg("--precision", type=int),
    arg("--json", action="store_true"),
    arg("--md", action="store_true"),
    writes=False,
)
def _exp_diff(ctx: Context, args: argparse.Namespace) -> Any:
    result = ctx.repo().experiments.diff(args.a_rev, args.b_rev, include_all=args.all)
    if args.json:
        return JSON(result.to_dict())
    tables = [
        result.table(kind, precision=args.precision, no_path=args.no_path, markdown=args.md)
        for kind in ("metrics", "params")
    ]
    return "\n\n".join(table for table in tables if table) or "No changes."


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
