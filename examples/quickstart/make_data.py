"""Write a small noisy linear data set for one region: ``python make_data.py REGION`` -> data/REGION.csv."""

import csv
import random
import sys
from pathlib import Path

region = sys.argv[1]
rng = random.Random(region)  # reproducible: the same region always gets the same data
slope = {"north": 2.0, "south": 3.0}.get(region, 2.5)
Path("data").mkdir(exist_ok=True)
with open(f"data/{region}.csv", "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["x", "y"])
    for _ in range(50):
        x = rng.uniform(0, 1)
        writer.writerow([round(x, 4), round(slope * x + rng.gauss(0, 0.1), 4)])
print(f"wrote data/{region}.csv")
