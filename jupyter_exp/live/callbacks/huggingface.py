"""Hugging Face ``transformers``: a ``TrainerCallback`` logging what the Trainer logs."""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from jupyter_exp.live.callbacks import plain_params, resolve_live
from jupyter_exp.live.logger import Live

_SPLITS = ("eval", "test")


def metric_name(key: str) -> str:
    """``eval_loss`` -> ``eval/loss``, ``test_loss`` -> ``test/loss``; anything else goes under ``train/``
    as is (``loss`` -> ``train/loss``; the end-of-training average ``train_loss`` -> ``train/train_loss``,
    so it does not land in the per-step loss series)."""
    for split in _SPLITS:
        if key.startswith(split + "_"):
            return f"{split}/{key[len(split) + 1:]}"
    return f"train/{key}"


class LiveCallback(TrainerCallback):
    """``Trainer(..., callbacks=[LiveCallback()])``.

    On every Trainer log event the numeric entries are logged at ``state.global_step`` and the step
    is closed (so checkpoints follow the Trainer's logging). The ``TrainingArguments`` are written as
    params when training begins (``log_params=False`` to skip). Only the main process logs.
    """

    def __init__(self, live: Live | None = None, *, log_params: bool = True, **live_kwargs: Any) -> None:
        self._live_arg = live
        self._live_kwargs = live_kwargs
        self._log_params = log_params
        self._live: Live | None = None
        self._owned = False

    @property
    def live(self) -> Live:
        """The logger, created on first use so that non-main processes never open files."""
        if self._live is None:
            self._live, self._owned = resolve_live(self._live_arg, self._live_kwargs)
        return self._live

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero and self._log_params:
            self.live.log_params(plain_params(args.to_dict()))

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        live = self.live
        live.step = state.global_step
        for key, value in (logs or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                live.log_metric(metric_name(key), value)
        live.next_step()

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero and self._owned and self._live is not None:
            self._live.end()
