"""XGBoost: a ``TrainingCallback`` logging every evaluation metric once per boosting round."""

from __future__ import annotations

from typing import Any

from xgboost.callback import TrainingCallback

from jupyter_exp.live.callbacks import resolve_live
from jupyter_exp.live.logger import Live


class LiveCallback(TrainingCallback):
    """``xgb.train(params, dtrain, evals=[(dval, "val")], callbacks=[LiveCallback()])``.

    Logs ``<data>/<metric>`` (e.g. ``val/logloss``) per round, then ``next_step()``; with ``xgb.cv``
    the mean is logged under that name and the standard deviation as ``<data>/<metric>_std``.
    """

    def __init__(self, live: Live | None = None, **live_kwargs: Any) -> None:
        super().__init__()
        self.live, self._owned = resolve_live(live, live_kwargs)

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, dict[str, list[Any]]]) -> bool:
        for data, metrics in evals_log.items():
            for metric, history in metrics.items():
                latest = history[-1]
                if isinstance(latest, tuple):
                    mean, std = latest
                    self.live.log_metric(f"{data}/{metric}", float(mean))
                    self.live.log_metric(f"{data}/{metric}_std", float(std))
                else:
                    self.live.log_metric(f"{data}/{metric}", float(latest))
        self.live.next_step()
        return False

    def after_training(self, model: Any) -> Any:
        if self._owned:
            self.live.end()
        return model
