"""Live metrics from inside a training process: TSV history, JSON summary, HTML report, checkpoints.

``import jupyter_exp.live`` stays light (standard library only) so training scripts start fast; the
report renderer, YAML and framework callbacks load only when used. Usage::

    from jupyter_exp.live import Live

    with Live("logs") as live:
        live.log_params({"lr": 0.01})
        for epoch in range(10):
            live.log_metric("train/loss", loss)
            live.next_step()          # also takes a checkpoint when run by `exp run` with checkpoints

DVC 2.0's module functions work too: ``init("logs")``, ``log("loss", value)``, ``next_step()``.
"""

from __future__ import annotations

from jupyter_exp.live.checkpoint import pid_alive, signal_checkpoint
from jupyter_exp.live.default import get_step, init, log, make_checkpoint, next_step
from jupyter_exp.live.logger import Live
from jupyter_exp.live.tsv import Row, TailChunk, read_tsv, tail_tsv
from jupyter_exp.protocol import signal_path as checkpoint_signal_path

__all__ = [
    "Live",
    "Row",
    "TailChunk",
    "checkpoint_signal_path",
    "get_step",
    "init",
    "log",
    "make_checkpoint",
    "next_step",
    "pid_alive",
    "read_tsv",
    "signal_checkpoint",
    "tail_tsv",
]
