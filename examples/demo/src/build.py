"""A per-region threshold model: the foreach stage of the release's example."""

import csv
import json
import sys

region, threshold, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
with open("data/points.csv") as f:
    rows = list(csv.DictReader(f))
cut = threshold / 10
accuracy = sum((float(r["x"]) ** 2 + float(r["y"]) ** 2 > cut**2) == (r["label"] == "1") for r in rows) / len(rows)
with open(out, "w") as f:
    json.dump({"region": region, "radius": cut, "accuracy": round(accuracy, 4)}, f)
print(f"{region}: radius {cut:.2f} -> accuracy {accuracy:.3f}")
