"""``daemon start|stop|status``: the terminal's resident process (``cli/resident.py``).

The notebook has no use for it (its kernel already keeps everything loaded), so only the terminal's
``Context`` carries a ``daemon``; the magics say so instead of starting one.
"""

from __future__ import annotations

import argparse

from jupyter_exp.commands.table import Context, UsageError, arg, command

_IDLE = arg(
    "--idle", type=float, default=15.0, metavar="MINUTES", help="exit after this long without a command"
)


def _daemon(ctx: Context, action: str, idle: float = 15.0) -> str:
    if ctx.daemon is None:
        raise UsageError(
            f"daemon {action}: only the terminal has a daemon; a notebook's kernel is already warm"
        )
    if idle <= 0:
        raise UsageError(f"daemon {action}: --idle must be a positive number of minutes, not {idle:g}")
    return ctx.daemon(action, idle)


@command(
    "daemon start",
    "Start a resident process that later `jupyter exp` commands run in (forked: ~10x less start-up)",
    _IDLE,
    writes=False,
)
def _start(ctx: Context, args: argparse.Namespace) -> str:
    return _daemon(ctx, "start", args.idle)


@command("daemon stop", "Stop the resident process (commands it runs finish first)", writes=False)
def _stop(ctx: Context, args: argparse.Namespace) -> str:
    return _daemon(ctx, "stop")


@command("daemon status", "Say whether a resident process serves this installation", writes=False)
def _status(ctx: Context, args: argparse.Namespace) -> str:
    return _daemon(ctx, "status")
