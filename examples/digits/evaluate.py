"""Score the trained model on the held-out split.

Writes `metrics.json` (accuracy and loss, shown by `exp show`) and `plots/confusion.csv`, one
`actual,predicted` row per image: the `confusion` plot template counts them into a matrix.
"""

from __future__ import annotations

import csv
import json
import os
import sys

import numpy as np
import torch
from torch import nn
from train import build_model

torch.set_num_threads(1)


def main(data_path: str, model_path: str) -> None:
    data = np.load(data_path)
    x, y = torch.from_numpy(data["x_test"]), torch.from_numpy(data["y_test"])
    state = torch.load(model_path)
    model = build_model(state["hidden"])
    model.load_state_dict(state["model"])
    model.eval()
    with torch.no_grad():
        logits = model(x)
    predicted = logits.argmax(dim=1)
    metrics = {
        "accuracy": round((predicted == y).float().mean().item(), 4),
        "loss": round(nn.functional.cross_entropy(logits, y).item(), 4),
        "epochs": state["epoch"],
    }
    with open("metrics.json", "w") as f:
        json.dump(metrics, f, indent=2)
    os.makedirs("plots", exist_ok=True)
    with open("plots/confusion.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["actual", "predicted"])
        writer.writerows(zip(y.tolist(), predicted.tolist(), strict=True))
    print(f"accuracy {metrics['accuracy']:.4f} on {len(y)} held-out images")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
