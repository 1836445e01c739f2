"""DVC 2.0's module-level API (``dvclive.init/log/next_step``, ``dvc.api.make_checkpoint``): one default
:class:`~jupyter_exp.live.logger.Live`, created on first use."""

from __future__ import annotations

import os
from typing import Any

from jupyter_exp.live.checkpoint import signal_checkpoint
from jupyter_exp.live.logger import Live

_default: Live | None = None


def init(
    path: str | os.PathLike[str] | None = None,
    *,
    summary: bool | None = None,
    html: bool | None = None,
    resume: bool | None = None,
) -> Live:
    """Start the default logger (ending any previous one); ``path`` defaults to ``$DVCLIVE_PATH`` or ``dvclive``."""
    global _default
    if _default is not None:
        _default.end()
    _default = Live(path, summary=summary, html=html, resume=resume)
    return _default


def _get_default() -> Live:
    global _default
    if _default is None or _default._ended:
        _default = Live()
    return _default


def log(name: str, value: Any, step: int | None = None) -> None:
    """Log to the default logger; logging a metric twice in one step starts the next step (dvclive 0.x)."""
    live = _get_default()
    if name in live._step_names:
        live.next_step()
    live.log_metric(name, value, step)


def next_step() -> None:
    """Close the default logger's current step (see :meth:`Live.next_step`)."""
    _get_default().next_step()


def get_step() -> int:
    """The default logger's current step."""
    return _get_default().step


def make_checkpoint() -> bool:
    """Flush the default logger, then ask the runner for a checkpoint and wait for it (DVC 2.0's
    ``dvc.api.make_checkpoint``). Without ``DVC_CHECKPOINT=1`` and ``DVC_ROOT`` this is a no-op."""
    if _default is not None and not _default._ended:
        _default.flush()
    return signal_checkpoint()
