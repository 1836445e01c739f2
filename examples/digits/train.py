"""Train a small MLP on the digits, one checkpoint per epoch.

Run by the `train` stage as `python src/train.py --lr ... --epochs ... --hidden ...` (dvc.yaml fills the
values in from params.yaml). `model.pt` is a `checkpoint: true` output: when it exists, training resumes
from it, so a checkpoint experiment can be continued with a larger `train.epochs`. Each epoch logs
train/loss, val/loss and val/acc with jupyter_exp.live; under `exp run`, `next_step()` commits a checkpoint.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from torch import nn

from jupyter_exp.live import Live

torch.set_num_threads(1)  # tiny model: one thread is fastest and leaves the other core to the notebook


def build_model(hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) on one split."""
    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y).item()
        acc = (logits.argmax(dim=1) == y).float().mean().item()
    return loss, acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="data/digits.npz")
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--hidden", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = np.load(args.data)
    x_train, y_train = torch.from_numpy(data["x_train"]), torch.from_numpy(data["y_train"])
    x_val, y_val = torch.from_numpy(data["x_test"]), torch.from_numpy(data["y_test"])

    torch.manual_seed(args.seed)
    model = build_model(args.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    done = 0
    if os.path.exists("model.pt"):  # a checkpoint from an earlier run of this experiment: continue it
        state = torch.load("model.pt")
        if state["hidden"] == args.hidden:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            for group in optimizer.param_groups:
                group["lr"] = args.lr
            done = state["epoch"]
    print(f"training epochs {done + 1}..{args.epochs} (lr={args.lr}, hidden={args.hidden})")

    # Live() takes its folder, summary/report switches and resume flag from the stage's `live:` section.
    with Live() as live:
        for epoch in range(done, args.epochs):
            model.train()
            generator = torch.Generator().manual_seed(args.seed * 1000 + epoch)
            order = torch.randperm(len(x_train), generator=generator)
            total = 0.0
            for start in range(0, len(order), args.batch_size):
                batch = order[start : start + args.batch_size]
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
                loss.backward()
                optimizer.step()
                total += loss.item() * len(batch)
            val_loss, val_acc = evaluate(model, x_val, y_val)
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
            torch.save({**state, "epoch": epoch + 1, "hidden": args.hidden}, "model.pt")
            live.log_metric("train/loss", total / len(x_train))
            live.log_metric("val/loss", val_loss)
            live.log_metric("val/acc", val_acc)
            print(f"epoch {epoch + 1}: val/acc={val_acc:.3f}")
            live.next_step()  # a checkpoint under `exp run`: model.pt and logs are committed


if __name__ == "__main__":
    main()
