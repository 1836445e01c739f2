"""Stand-in for evaluate.py: metrics and plots computed from the model's params, in DVCLive's layout."""

import json
import os
import sys
from pathlib import Path

n_est, min_split, _seed = Path(sys.argv[1]).read_text().split()
score = round(int(n_est) / 100 + float(min_split), 4)
os.makedirs("eval", exist_ok=True)
metrics = {
    "avg_prec": {"train": score, "test": round(score - 0.1, 4)},
    "roc_auc": {"train": score, "test": score},
}
Path("eval/metrics.json").write_text(json.dumps(metrics, indent=4))
for split in ("train", "test"):
    for kind, rows in {
        "roc": [{"fpr": 0.0, "tpr": 0.0}, {"fpr": 0.5, "tpr": score}, {"fpr": 1.0, "tpr": 1.0}],
        "prc": [{"recall": 1.0, "precision": 0.5}, {"recall": 0.5, "precision": score}],
        "cm": [{"actual": "0", "predicted": "0"}, {"actual": "1", "predicted": "1" if score > 0.5 else "0"}],
    }.items():
        os.makedirs(f"eval/plots/sklearn/{kind}", exist_ok=True)
        # DVCLive nests roc/prc points under the plot's kind; a confusion matrix is a bare list
        Path(f"eval/plots/sklearn/{kind}/{split}.json").write_text(
            json.dumps(rows if kind == "cm" else {kind: rows})
        )
os.makedirs("eval/plots/images", exist_ok=True)
# a 1x1 PNG
Path("eval/plots/images/importance.png").write_bytes(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cf000000030101003018a8a30000000049454e44ae426082"
    )
)
