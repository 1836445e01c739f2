"""Stand-in for train.py: a "model", and DVCLive's layout (params, metrics, per-step plots) in results/train."""

import json
import os
from pathlib import Path

import yaml

params = yaml.safe_load(Path("params.yaml").read_text())
train = params["train"]
epochs, lr = train["fine_tune_args"]["epochs"], train["fine_tune_args"]["base_lr"]
os.makedirs("models", exist_ok=True)
Path("models/model.pkl").write_text(f"{train['arch']} {epochs} {lr}\n")
Path("models/model.pth").write_text(f"{train['img_size']} {train['batch_size']}\n")
os.makedirs("results/train/plots/metrics/train", exist_ok=True)
Path("results/train/params.yaml").write_text(yaml.safe_dump(params))
with open("results/train/plots/metrics/train/loss.tsv", "w") as out:
    out.write("step\tloss\n" + "".join(f"{i}\t{round(1 / (1 + i * lr * 10), 4)}\n" for i in range(epochs)))
metrics = {"step": epochs - 1, "train": {"loss": round(1 / (1 + epochs * lr * 10), 4)}}
Path("results/train/metrics.json").write_text(json.dumps(metrics, indent=4))
