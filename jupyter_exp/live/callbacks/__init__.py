"""Framework integrations for the live logger. Each submodule imports its framework when *it* is
imported, so ``import jupyter_exp.live`` (and this package) never pulls in Keras, torch & co.

* ``callbacks.keras.LiveCallback``         ``model.fit(..., callbacks=[LiveCallback()])``
* ``callbacks.lightning.LiveLogger``       ``Trainer(logger=LiveLogger())``
* ``callbacks.huggingface.LiveCallback``   ``Trainer(..., callbacks=[LiveCallback()])``
* ``callbacks.xgboost.LiveCallback``       ``xgb.train(..., callbacks=[LiveCallback()])``
* ``callbacks.lightgbm.live_callback``     ``lgb.train(..., callbacks=[live_callback()])``

Each takes an existing ``live=Live(...)`` (you end it) or the keyword arguments of :class:`Live`
(the callback creates the logger and ends it when training ends).

Plain PyTorch needs no callback: 0-d tensors are accepted as values::

    from jupyter_exp.live import Live

    with Live("logs") as live:
        live.log_params({"lr": lr, "epochs": epochs})
        for epoch in range(epochs):
            for x, y in loader:
                optimizer.zero_grad()
                loss = loss_fn(model(x), y)
                loss.backward()
                optimizer.step()
            live.log_metric("train/loss", loss.detach())   # a 0-d tensor: .item() is taken
            live.log_metric("val/acc", evaluate(model))
            torch.save(model.state_dict(), "model.pt")
            live.next_step()   # under `exp run` with checkpoints, commits model.pt + logs here
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jupyter_exp.live.logger import Live


def resolve_live(live: Live | None, live_kwargs: Mapping[str, Any]) -> tuple[Live, bool]:
    """The logger a callback writes to, and whether the callback owns it (and so must end it)."""
    if live is not None:
        if live_kwargs:
            raise TypeError(f"pass either live= or Live arguments, not both: {sorted(live_kwargs)}")
        return live, False
    return Live(**live_kwargs), True


def plain_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Framework hyper-parameters as YAML-safe values: numbers, strings, lists, dicts; the rest as str."""
    return {str(key): _plain(value) for key, value in params.items()}


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return plain_params(value)
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return _plain(item())
        except (ValueError, RuntimeError, TypeError):
            pass
    return str(value)
