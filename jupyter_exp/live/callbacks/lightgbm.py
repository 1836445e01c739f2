"""LightGBM: a callback function logging every evaluation result once per boosting round.

LightGBM passes callbacks a plain ``CallbackEnv`` record, so this module needs no LightGBM import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jupyter_exp.live.callbacks import resolve_live
from jupyter_exp.live.logger import Live


def live_callback(live: Live | None = None, **live_kwargs: Any) -> Callable[[Any], None]:
    """``lgb.train(params, train, valid_sets=[val], callbacks=[live_callback()])``.

    Logs ``<data>/<metric>`` (e.g. ``valid_0/l2``) per round, then ``next_step()``; ``lgb.cv`` results
    also get ``<data>/<metric>_std``. It runs before early stopping (order 20 < 30) so the round
    that stops training is logged; a logger the callback created is ended after the last planned
    round, or at interpreter exit when early stopping cut training short.
    """
    logger, owned = resolve_live(live, live_kwargs)

    def _callback(env: Any) -> None:
        for result in env.evaluation_result_list or []:
            data, metric, value = result[0], result[1], result[2]
            logger.log_metric(f"{data}/{metric}", float(value))
            if len(result) == 5:
                logger.log_metric(f"{data}/{metric}_std", float(result[4]))
        logger.next_step()
        if owned and env.iteration + 1 >= env.end_iteration:
            logger.end()

    _callback.order = 20  # type: ignore[attr-defined]
    _callback.live = logger  # type: ignore[attr-defined]
    return _callback
