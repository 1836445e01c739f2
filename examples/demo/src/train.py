"""Logistic regression on the radius, in plain Python; one checkpoint per epoch.

`jupyter_exp.live` writes logs/<metric>.tsv, logs.json and logs.html; with a `checkpoint: true` output,
each next_step() is a checkpoint commit of the experiment. A resumed run continues from model.json.
"""

import csv
import json
import math
import os
import sys

import yaml

from jupyter_exp import live

with open("params.yaml") as f:
    params = yaml.safe_load(f)["train"]
with open(sys.argv[1]) as f:
    rows = [(float(r["x"]) ** 2 + float(r["y"]) ** 2, int(r["label"])) for r in csv.DictReader(f)]

model = {"w": 0.0, "b": 0.0, "epoch": 0}
if os.path.exists("model.json"):  # resume from the last checkpoint
    with open("model.json") as f:
        model = json.load(f)

live.init("logs", resume=model["epoch"] > 0)
for epoch in range(model["epoch"], model["epoch"] + params["epochs"]):
    loss = correct = 0.0
    for r2, label in rows:
        p = 1 / (1 + math.exp(-(model["w"] * r2 + model["b"])))
        model["w"] -= params["lr"] * (p - label) * r2
        model["b"] -= params["lr"] * (p - label)
        loss += -math.log(max(p if label else 1 - p, 1e-9))
        correct += (p > 0.5) == bool(label)
    model["epoch"] = epoch + 1
    with open("model.json", "w") as f:
        json.dump(model, f)
    live.log("loss", loss / len(rows))
    live.log("acc", correct / len(rows))
    live.next_step()
