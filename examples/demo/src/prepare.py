"""Make a small two-class data set (deterministic, no downloads)."""

import math
import os
import random
import sys

n, path = int(sys.argv[1]), sys.argv[2]
random.seed(0)
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "w") as f:
    f.write("x,y,label\n")
    for i in range(n):
        label = i % 2
        angle = random.uniform(0, 2 * math.pi)
        radius = random.gauss(1.0 + label, 0.35)
        f.write(f"{radius * math.cos(angle):.4f},{radius * math.sin(angle):.4f},{label}\n")
