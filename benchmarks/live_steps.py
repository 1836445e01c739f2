"""Our logger timed exactly as ../shared/bench/dvclive_steps.py times DVCLive (3 metrics, N steps)."""

import os
import sys
import tempfile
import time

from jupyter_exp.live import Live

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
os.chdir(tempfile.mkdtemp())
t0 = time.perf_counter()
with Live("live") as live:
    for i in range(n):
        live.log_metric("train/loss", 1.0 / (i + 1))
        live.log_metric("train/acc", i / n)
        live.log_metric("val/loss", 1.1 / (i + 1))
        live.next_step()
dt = time.perf_counter() - t0
print(f"jupyter-exp steps={n} us_per_step={dt / n * 1e6:.1f}")
