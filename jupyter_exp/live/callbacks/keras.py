"""Keras (3, or ``tf.keras``): a ``Callback`` logging the epoch's logs once per epoch."""

from __future__ import annotations

from typing import Any

try:
    from keras.callbacks import Callback
except ImportError:  # TensorFlow's bundled Keras 2
    from tensorflow.keras.callbacks import Callback  # type: ignore[no-redef]

from jupyter_exp.live.callbacks import resolve_live
from jupyter_exp.live.logger import Live


class LiveCallback(Callback):
    """``model.fit(x, y, validation_data=..., callbacks=[LiveCallback()])``.

    Each epoch logs every entry of Keras' ``logs`` under its Keras name (``loss``, ``val_loss``,
    ``accuracy``...) and calls ``next_step()``, so the step is the epoch number.
    """

    def __init__(self, live: Live | None = None, **live_kwargs: Any) -> None:
        super().__init__()
        self.live, self._owned = resolve_live(live, live_kwargs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for name, value in (logs or {}).items():
            self.live.log_metric(name, float(value))
        self.live.next_step()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._owned:
            self.live.end()
