"""Framework integrations, each trained for real on tiny data (skipped where the framework is absent)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from jupyter_exp.live import Live, read_tsv


def summary(path: str) -> dict:
    return json.loads(Path(path).read_text())


def finished(report: str) -> bool:
    return "http-equiv" not in Path(report).read_text()


def test_plain_pytorch_loop_logs_zero_d_tensors() -> None:
    import torch
    torch.manual_seed(0)
    x = torch.linspace(-1, 1, 64).unsqueeze(1)
    y = 3 * x + 0.5
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    with Live("logs") as live:
        live.log_params({"lr": 0.5, "epochs": 5})
        for _ in range(5):
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
            live.log_metric("train/loss", loss.detach())
            live.log_metric("train/weight", model.weight[0, 0].detach())
            losses.append(loss.item())
            live.next_step()
    assert [row.value for row in read_tsv("logs/train/loss.tsv")] == pytest.approx(losses)
    assert losses[-1] < losses[0]
    assert summary("logs.json")["step"] == 4


def test_xgboost_train_and_cv() -> None:
    import numpy as np
    import xgboost as xgb

    from jupyter_exp.live.callbacks.xgboost import LiveCallback

    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 4))
    target = features @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.normal(scale=0.1, size=200)
    dtrain = xgb.DMatrix(features[:150], label=target[:150])
    dval = xgb.DMatrix(features[150:], label=target[150:])
    xgb.train(
        {"objective": "reg:squarederror", "eval_metric": "rmse", "max_depth": 2},
        dtrain,
        num_boost_round=5,
        evals=[(dtrain, "train"), (dval, "val")],
        callbacks=[LiveCallback(path="logs")],
        verbose_eval=False,
    )
    rows = read_tsv("logs/val/rmse.tsv")
    assert [row.step for row in rows] == [0, 1, 2, 3, 4]
    assert rows[-1].value < rows[0].value
    assert set(summary("logs.json")) == {"step", "train", "val"} and finished("logs.html")

    with Live("cv", html=False) as live:
        xgb.cv({"max_depth": 2, "eval_metric": "rmse"}, dtrain, num_boost_round=3, nfold=3,
               callbacks=[LiveCallback(live)])
        assert live.step == 3  # not ended by the callback: the caller owns it
    assert len(read_tsv("cv/test/rmse.tsv")) == 3 and len(read_tsv("cv/test/rmse_std.tsv")) == 3


def test_lightgbm_callback() -> None:
    import lightgbm as lgb
    import numpy as np

    from jupyter_exp.live.callbacks.lightgbm import live_callback

    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 3))
    target = features[:, 0] * 2 + rng.normal(scale=0.1, size=300)
    train = lgb.Dataset(features[:200], label=target[:200])
    valid = lgb.Dataset(features[200:], label=target[200:], reference=train)
    callback = live_callback(path="logs")
    lgb.train({"objective": "regression", "verbose": -1, "num_leaves": 4}, train, num_boost_round=6,
              valid_sets=[valid], callbacks=[callback])
    rows = read_tsv("logs/valid_0/l2.tsv")
    assert [row.step for row in rows] == list(range(6))
    assert rows[-1].value < rows[0].value
    assert finished("logs.html")


def test_keras_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_BACKEND", os.environ.get("KERAS_BACKEND", "torch"))
    import keras
    import numpy as np

    from jupyter_exp.live.callbacks.keras import LiveCallback

    x = np.linspace(-1, 1, 64, dtype="float32").reshape(-1, 1)
    y = 2 * x
    model = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0,
              callbacks=[LiveCallback(path="logs")])
    assert [row.step for row in read_tsv("logs/loss.tsv")] == [0, 1, 2]
    assert len(read_tsv("logs/val_loss.tsv")) == 3
    assert finished("logs.html")


def test_lightning_logger() -> None:
    import lightning
    import torch

    from jupyter_exp.live.callbacks.lightning import LiveLogger

    class Regression(lightning.LightningModule):
        def __init__(self, lr: float = 0.1) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(1, 1)

        def training_step(self, batch, batch_idx):  # noqa: ANN001, ANN201 - Lightning's signature
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self):  # noqa: ANN201
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, 2 * x), batch_size=8)
    trainer = lightning.Trainer(
        max_epochs=2, logger=LiveLogger(path="logs"), log_every_n_steps=1, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
    )
    trainer.fit(Regression(lr=0.1), loader)
    rows = read_tsv("logs/train_loss.tsv")
    assert [row.step for row in rows] == list(range(8))
    assert Path("logs/params.yaml").read_text() == "lr: 0.1\n"
    assert finished("logs.html")


def test_huggingface_trainer_callback() -> None:
    import accelerate  # noqa: F401 - the Trainer needs it
    import torch
    import transformers

    from jupyter_exp.live.callbacks.huggingface import LiveCallback, metric_name

    class Regression(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(1, 1)

        def forward(self, x, labels=None):  # noqa: ANN001, ANN201 - Trainer's calling convention
            out = self.layer(x)
            return {"loss": torch.nn.functional.mse_loss(out, labels), "logits": out}

    data = [{"x": [v / 16], "labels": [2 * v / 16]} for v in range(-16, 16)]
    args = transformers.TrainingArguments(
        output_dir="out", num_train_epochs=2, per_device_train_batch_size=8, logging_steps=1,
        save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True, learning_rate=0.1,
    )
    trainer = transformers.Trainer(model=Regression(), args=args, train_dataset=data, eval_dataset=data[:8],
                                   callbacks=[LiveCallback(path="logs")])
    trainer.train()
    rows = read_tsv("logs/train/loss.tsv")
    assert [row.step for row in rows] == list(range(1, 9))
    assert Path("logs/train/learning_rate.tsv").is_file()
    assert "learning_rate: 0.1" in Path("logs/params.yaml").read_text()
    assert finished("logs.html")
    assert len(read_tsv("logs/train/train_loss.tsv")) == 1  # the run's average, apart from the series
    assert metric_name("eval_loss") == "eval/loss" and metric_name("epoch") == "train/epoch"
