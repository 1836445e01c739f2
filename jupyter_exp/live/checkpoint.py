"""Client side of the DVC 2.0 checkpoint protocol.

The training process creates ``$DVC_ROOT/.dvc/tmp/DVC_CHECKPOINT`` and waits; the runner (which set
``DVC_CHECKPOINT=1`` and ``DVC_ROOT`` in the environment; the names are ``jupyter_exp.protocol``'s) sees
the file, hashes and commits the checkpoint outputs, then deletes the file. Blocking meanwhile keeps the training from changing the
outputs while they are being cached, so every checkpoint commit is consistent.
"""

from __future__ import annotations

import contextlib
import os
import time

from jupyter_exp.protocol import ENV_CHECKPOINT, ENV_PARENT_PID, ENV_ROOT, SIGNAL_FILE, pid_alive, signal_path

POLL_SECONDS = 0.005  # the training waits only while its checkpoint is committed


def checkpoint_requested() -> bool:
    """True when a runner asked for checkpoints: ``DVC_CHECKPOINT`` is truthy and ``DVC_ROOT`` is set."""
    flag = os.environ.get(ENV_CHECKPOINT, "").strip().lower()
    return flag in ("1", "true", "yes", "on") and bool(os.environ.get(ENV_ROOT))


def signal_checkpoint() -> bool:
    """Ask the runner for a checkpoint and block until it has committed one.

    Returns True once the runner deleted the signal file, False when no runner asked for checkpoints
    (a no-op) or when the runner named by ``DVC_CHECKPOINT_PARENT_PID`` died while we waited (then the
    signal file is removed, so a later runner does not mistake it for a fresh request).
    """
    if not checkpoint_requested():
        return False
    signal = signal_path(os.environ[ENV_ROOT])
    os.makedirs(os.path.dirname(signal), exist_ok=True)
    # Write then rename: the runner never sees a half-written file.
    tmp = os.path.join(os.path.dirname(signal), f".{SIGNAL_FILE}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fobj:
        fobj.write(str(os.getpid()))
    os.replace(tmp, signal)
    parent_pid = _parent_pid()
    while os.path.exists(signal):
        if parent_pid is not None and not pid_alive(parent_pid):
            with contextlib.suppress(FileNotFoundError):
                os.remove(signal)
            return False
        time.sleep(POLL_SECONDS)
    return True


def _parent_pid() -> int | None:
    raw = os.environ.get(ENV_PARENT_PID, "").strip()
    return int(raw) if raw.isdigit() else None
