"""Stand-in for train.py: one logs.csv row per epoch, a "model" file."""

import os
from pathlib import Path

import yaml
from models import size

params = yaml.safe_load(Path("params.yaml").read_text())
epochs, units = params["train"]["epochs"], size(params["model"])
os.makedirs("models/fashion-mnist", exist_ok=True)
Path("models/fashion-mnist/model.h5").write_text(f"{units} {epochs}\n")
with open("logs.csv", "w") as out:
    out.write(
        "epoch,loss,acc\n"
        + "".join(
            f"{e},{round(1 / (e + 2), 4)},{round(units * (e + 1) / 1000, 4)}\n" for e in range(max(epochs, 1))
        )
    )
