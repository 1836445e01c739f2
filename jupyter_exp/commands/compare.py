"""Metrics, params and plots across revisions and experiments."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_exp.commands.table import (
    JSON,
    REV_ARGS,
    Context,
    arg,
    command,
)
from jupyter_exp.repo import Params


def _diff_revs(a: str | None, b: str | None) -> tuple[str, str]:
    """DVC's defaults: no revision = HEAD vs workspace; one revision = it vs workspace."""
    return (a or "HEAD"), (b or "workspace")


_TABLE_ARGS = (
    arg("--targets", nargs="+", metavar="PATH", help="only these files"),
    arg("--all", action="store_true", help="unchanged values too"),
    arg("--json", action="store_true"),
    arg("--md", action="store_true", help="markdown table"),
    arg("--no-path", action="store_true", help="without the file column"),
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
    return repo.metrics.render_show(shown, markdown=args.md, precision=args.precision) or "No metrics found."


@command(
    "metrics diff",
    "Compare metrics between two revisions (default: HEAD vs workspace)",
    *REV_ARGS,
    *_TABLE_ARGS,
    arg("--precision", type=int),
    writes=False,
)
def _metrics_diff(ctx: Context, args: argparse.Namespace) -> Any:
    metrics = ctx.repo().metrics
    return _diff_result(
        args,
        metrics.diff,
        lambda rows, revs: metrics.render_diff(
            rows, revs, markdown=args.md, no_path=args.no_path, precision=args.precision
        ),
    )


@command(
    "params diff",
    "Compare params between two revisions (default: HEAD vs workspace)",
    *REV_ARGS,
    *_TABLE_ARGS,
    writes=False,
)
def _params_diff(ctx: Context, args: argparse.Namespace) -> Any:
    params = ctx.repo().params
    return _diff_result(
        args,
        params.diff,
        lambda rows, revs: params.render_diff(rows, revs, markdown=args.md, no_path=args.no_path),
    )


def _diff_result(
    args: argparse.Namespace,
    diff: Callable[..., list[Any]],
    render: Callable[[list[Any], tuple[str, str]], str],
) -> Any:
    """What ``metrics diff`` and ``params diff`` share: DVC's default revisions, then JSON or a table."""
    old, new = _diff_revs(args.a_rev, args.b_rev)
    rows = diff(old, new, args.targets, all=args.all)
    return JSON(Params.diff_json(rows)) if args.json else render(rows, (old, new))


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
        return JSON(plots.data(revs, targets, props=_plot_props(args), out_dir=args.out))
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
    if "workspace" in revs:  # DVC reads the workspace first, so it comes first in the page and --json
        revs.insert(0, revs.pop(revs.index("workspace")))
    return _plots(ctx, args, revs, args.targets)
