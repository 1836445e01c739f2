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


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still exists (without signalling it: on Windows ``os.kill`` would kill)."""
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000 | 0x00100000, False, pid)  # QUERY_LIMITED_INFORMATION|SYNCHRONIZE
        if not handle:
            return False
        try:
            return kernel32.WaitForSingleObject(handle, 0) == 0x102  # WAIT_TIMEOUT: still running
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A killed process its parent has not reaped yet (a kernel's child) still answers ``kill(pid, 0)``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fobj:
            stat = fobj.read()
    except OSError:  # no /proc (macOS): assume it lives
        return False
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] == b"Z"
