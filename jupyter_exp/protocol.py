"""What the pipeline runner and a stage's training process tell each other (DVC 2.0's protocol).

The runner (``pipeline/process.py``) sets these environment variables for a stage's command; the training
side (``live/``) reads them. A checkpoint is asked for by creating the signal file and waiting until the
runner, having committed the checkpoint outputs, deletes it. Both sides use the names from here only.
"""

from __future__ import annotations

import os

ENV_ROOT = "DVC_ROOT"  # the repository's root
ENV_STAGE = "DVC_STAGE"  # the stage's name
ENV_CHECKPOINT = "DVC_CHECKPOINT"  # "1": the runner serves checkpoint signals
ENV_PARENT_PID = "DVC_CHECKPOINT_PARENT_PID"  # the runner's pid: a signal is not awaited once it is gone

# The stage's `live:` section: the folder to log to and its options (true/false).
ENV_LIVE_PATH = "DVCLIVE_PATH"
ENV_LIVE_SUMMARY = "DVCLIVE_SUMMARY"
ENV_LIVE_HTML = "DVCLIVE_HTML"
ENV_LIVE_REPORT = "DVCLIVE_REPORT"  # DVCLive's older name for ENV_LIVE_HTML, still read
ENV_LIVE_RESUME = "DVCLIVE_RESUME"

SIGNAL_FILE = "DVC_CHECKPOINT"


def signal_path(root: str | os.PathLike[str]) -> str:
    """The checkpoint signal file of the repository at ``root``."""
    return os.path.join(os.fspath(root), ".dvc", "tmp", SIGNAL_FILE)
