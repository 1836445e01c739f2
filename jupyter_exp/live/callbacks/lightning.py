"""PyTorch Lightning (``lightning`` 2.x, or the older ``pytorch_lightning``): a ``Logger``."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Mapping
from typing import Any

try:
    from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
    from lightning.pytorch.utilities import rank_zero_only
except ImportError:
    from pytorch_lightning.loggers.logger import Logger, rank_zero_experiment  # type: ignore[no-redef]
    from pytorch_lightning.utilities import rank_zero_only  # type: ignore[no-redef]

from jupyter_exp.live.callbacks import plain_params, resolve_live
from jupyter_exp.live.logger import Live


class LiveLogger(Logger):
    """``Trainer(logger=LiveLogger())``: metrics logged with ``self.log(...)`` land in the TSVs.

    Each ``log_metrics`` call logs at Lightning's global step and closes the step (so a checkpoint
    can follow); ``save_hyperparameters()`` ends up in ``params.yaml``. Only rank zero writes.
    """

    def __init__(self, live: Live | None = None, **live_kwargs: Any) -> None:
        super().__init__()
        self._live_arg = live
        self._live_kwargs = live_kwargs
        self._live: Live | None = None
        self._owned = False

    @property
    def name(self) -> str:
        return "jupyter-exp-live"

    @property
    def version(self) -> str:
        return "0"

    @property
    @rank_zero_experiment
    def experiment(self) -> Live:
        """The :class:`Live` logger (created on rank zero at first use)."""
        if self._live is None:
            self._live, self._owned = resolve_live(self._live_arg, self._live_kwargs)
        return self._live

    @rank_zero_only
    def log_hyperparams(self, params: Mapping[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        if isinstance(params, Namespace):
            params = vars(params)
        self.experiment.log_params(plain_params(params))

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        live = self.experiment
        if step is not None:
            live.step = step
        for name, value in metrics.items():
            live.log_metric(name, float(value))
        live.next_step()

    @rank_zero_only
    def save(self) -> None:
        if self._live is not None:
            self._live.flush()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._live is not None and self._owned:
            self._live.end()
