"""Stand-in for evaluate.py: a dice score from the model, and sample images (1x1 PNGs)."""

import json
import os
from pathlib import Path

import yaml

params = yaml.safe_load(Path("params.yaml").read_text())["evaluate"]
_arch, epochs, lr = Path("models/model.pkl").read_text().split()
os.makedirs("results/evaluate/plots/images", exist_ok=True)
Path("results/evaluate/metrics.json").write_text(
    json.dumps({"dice_multi": round(int(epochs) * float(lr), 4)})
)
png = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf000000030101003018a8a30000000049454e44ae426082"
)
for i in range(min(2, params["n_samples_to_save"])):
    Path(f"results/evaluate/plots/images/sample{i}.png").write_bytes(png)
