"""Stand-in for evaluate.py: metrics from the "model"."""

import json
from pathlib import Path

units, epochs = map(int, Path("models/fashion-mnist/model.h5").read_text().split())
Path("metrics.json").write_text(
    json.dumps({"loss": round(1 / (epochs + 2), 4), "acc": round(units * (epochs + 1) / 1000, 4)})
)
