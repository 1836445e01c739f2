"""Data remotes: DVC's `remote`, and `data push|fetch|pull` (`push`/`pull` alone are the experiments');
imports: `import`, `import-url`, `update`."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from jupyter_exp.commands.table import (
    Context,
    UsageError,
    arg,
    command,
)
from jupyter_exp.fsutil import chdir


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
    url = ctx.repo().remotes.add(
        args.name, args.url, default=args.default, force=args.force, local=args.local, cwd=ctx.cwd
    )
    default = " (default)" if args.default else ""
    return f"Added remote '{args.name}'{default}: {url}"


@command("remote list", "List the data remotes", writes=False)
def _remote_list(ctx: Context, args: argparse.Namespace) -> str:
    remotes = ctx.repo().remotes
    default = remotes.default()
    lines = [
        f"{name}\t{url}" + ("\t(default)" if name == default else "") for name, url in remotes.list().items()
    ]
    return "\n".join(lines).expandtabs(8) or "No remotes: add one with `remote add -d NAME URL`."


@command(
    "remote modify",
    "Set (or with --unset remove) one option of a data remote, as `dvc remote modify`",
    arg("name"),
    arg("option", help="url, jobs, verify; for s3: endpointurl, access_key_id, secret_access_key, region, ..."),
    arg("value", nargs="?"),
    arg("-u", "--unset", action="store_true", help="remove the option"),
    arg("--local", action="store_true", help="write to .dvc/config.local (credentials belong there)"),
)
def _remote_modify(ctx: Context, args: argparse.Namespace) -> str:
    if args.unset == (args.value is not None):
        raise UsageError("give a VALUE, or --unset without one")
    ctx.repo().remotes.modify(args.name, args.option, None if args.unset else args.value, local=args.local)
    return f"{'Unset' if args.unset else 'Set'} '{args.option}' of remote '{args.name}'"


@command("remote remove", "Remove a data remote from .dvc/config", arg("name"))
def _remote_remove(ctx: Context, args: argparse.Namespace) -> str:
    ctx.repo().remotes.remove(args.name)
    return f"Removed remote '{args.name}'"


@command(
    "remote default",
    "Show or set the default data remote",
    arg("name", nargs="?"),
    arg("--unset", action="store_true", help="no default remote"),
    arg("--local", action="store_true", help="write to .dvc/config.local"),
)
def _remote_default(ctx: Context, args: argparse.Namespace) -> str:
    remotes = ctx.repo().remotes
    if args.unset or args.name:
        remotes.set_default(None if args.unset else args.name, local=args.local)
    return remotes.default() or "No default remote."


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


def _track_hint(written: str) -> str:
    folder = written.rpartition("/")[0]
    ignore = f"{folder}/.gitignore" if folder else ".gitignore"
    return f"To track the changes with git, run:\n\n\tgit add {written} {ignore}".expandtabs(4)


@command(
    "import",
    "Copy a file or folder from another Git/DVC repository, recording where it came from (frozen .dvc file)",
    arg("url", help="the repository: a path or a file:// URL"),
    arg("path", help="the file or folder inside it (Git-tracked or a DVC output)"),
    arg("-o", "--out", metavar="OUT", help="where to put it (default: its name, here)"),
    arg("--rev", help="a commit, branch or tag of the repository (default: its HEAD)"),
    arg("-f", "--force", action="store_true", help="replace an existing OUT"),
)
def _import(ctx: Context, args: argparse.Namespace) -> str:
    repo = ctx.repo()
    with chdir(ctx.cwd):
        written = repo.import_from_repo(args.url, args.path, out=args.out, rev=args.rev, force=args.force)
    return _track_hint(written)


@command(
    "import-url",
    "Copy a file or folder from a URL (local path, file://, any fsspec URL), recording its version",
    arg("url"),
    arg("out", nargs="?", help="where to put it (default: its name, here)"),
    arg("-f", "--force", action="store_true", help="replace an existing OUT"),
)
def _import_url(ctx: Context, args: argparse.Namespace) -> str:
    repo = ctx.repo()
    with chdir(ctx.cwd):
        written = repo.import_url(args.url, args.out, force=args.force)
    return _track_hint(written)


@command(
    "update",
    "Import again what import .dvc files name, where their source changed",
    arg("targets", nargs="+", help="import .dvc files (or the imported paths)"),
    arg("--rev", help="move a repository import to this commit, branch or tag"),
    arg("-f", "--force", action="store_true", help="replace imported data changed in the workspace"),
)
def _update(ctx: Context, args: argparse.Namespace) -> str:
    repo = ctx.repo()
    with chdir(ctx.cwd):
        updated = [t for t in args.targets if repo.update(t, rev=args.rev, force=args.force)]
    return "Updated: " + ", ".join(updated) if updated else "Everything is up to date."
