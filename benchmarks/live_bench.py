"""Live logger benchmark: time per step (3 metrics + next_step), flatness over steps, import time.

    .venv/bin/python benchmarks/live_bench.py [--steps 2000] [--long 10000] [--ref-long 2000]

Each measurement runs in a fresh process. When DVCLive's reference venv exists (``/tmp/ref`` or
``$DVCLIVE_REF_PYTHON``), DVCLive 3.x runs the same loop in the same invocation (set up as
/work/shared/bench/dvclive_steps.py does: ``Live(dir, save_dvc_exp=False, report=None, dvcyaml=None)``)
and the ratios are printed. The per-step cost at step 10 vs a late step is the median of 50 single
steps timed one by one; DVCLive's late window defaults to step 2,000 because its steps get slower.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REF_PYTHON = os.environ.get("DVCLIVE_REF_PYTHON", "/tmp/ref/bin/python")
ROOT = Path(__file__).resolve().parent.parent
WINDOW = 50

# Runs inside the measured interpreter; prints one JSON line.
WORKER = r"""
import json, os, statistics, sys, tempfile, time
impl, steps, late, html = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
window = int(sys.argv[5])
if impl == "ours":
    from jupyter_exp.live import Live
    make = lambda: Live("live", html=html)
else:
    from dvclive import Live
    make = lambda: Live("live", save_dvc_exp=False, report=None, dvcyaml=None)
os.chdir(tempfile.mkdtemp())

def one_step(live, i, n):
    live.log_metric("train/loss", 1.0 / (i + 1))
    live.log_metric("train/acc", i / n)
    live.log_metric("val/loss", 1.1 / (i + 1))
    live.next_step()

# 1. Average over a whole run, construction and end() included (as dvclive_steps.py times it), and
#    the median single step of that run (robust to other processes stealing the CPU).
clock = time.perf_counter
times = []
t0 = clock()
with make() as live:
    for i in range(steps):
        start = clock()
        one_step(live, i, steps)
        times.append(clock() - start)
average = (clock() - t0) / steps * 1e6

# 2. Single steps timed one by one, at step 10 and at a late step.
os.chdir(tempfile.mkdtemp())
early, late_times = [], []
with make() as live:
    for i in range(late + window):
        start = clock()
        one_step(live, i, late + window)
        took = clock() - start
        if 10 <= i < 10 + window:
            early.append(took)
        elif i >= late:
            late_times.append(took)
print(json.dumps({"average_us": average, "median_us": statistics.median(times) * 1e6, "early_us": statistics.median(early) * 1e6,
                  "late_us": statistics.median(late_times) * 1e6}))
"""


def run_worker(python: str, impl: str, steps: int, late: int, html: bool) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("DVCLIVE_PATH", "DVCLIVE_SUMMARY", "DVCLIVE_HTML", "DVCLIVE_REPORT", "DVCLIVE_RESUME",
                 "DVC_CHECKPOINT"):
        env.pop(name, None)
    out = subprocess.run(
        [python, "-c", WORKER, impl, str(steps), str(late), "1" if html else "0", str(WINDOW)],
        capture_output=True, text=True, check=True, env=env, cwd=tempfile.gettempdir(),
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def import_ms(python: str, module: str, runs: int = 7) -> float:
    """Best-of-N cumulative ``-X importtime`` figure for ``module``, in ms."""
    pattern = re.compile(rf"\|\s*(\d+)\s*\|\s*{re.escape(module)}\s*$")
    best = float("inf")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(runs):
        err = subprocess.run([python, "-X", "importtime", "-c", f"import {module}"], capture_output=True,
                             text=True, check=True, env=env).stderr
        for line in err.splitlines():
            match = pattern.search(line)
            if match:
                best = min(best, int(match.group(1)) / 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="steps in the averaged run")
    parser.add_argument("--long", type=int, default=10_000, help="our late window starts at this step")
    parser.add_argument("--ref-long", type=int, default=2000, help="DVCLive's late window starts here")
    args = parser.parse_args()

    ours_plain = run_worker(sys.executable, "ours", args.steps, args.long, html=False)
    ours_html = run_worker(sys.executable, "ours", args.steps, args.long, html=True)
    ours_import = import_ms(sys.executable, "jupyter_exp.live")
    print(f"jupyter_exp.live ({args.steps} steps x 3 metrics, summary on)")
    for label, res in (("no report", ours_plain), ("html report", ours_html)):
        print(f"  {label:12s} mean {res['average_us']:8.1f} us/step  median {res['median_us']:6.1f}   "
              f"step 10: {res['early_us']:6.1f} us   "
              f"step {args.long}: {res['late_us']:6.1f} us   late/early {res['late_us'] / res['early_us']:.2f}")
    print(f"  import jupyter_exp.live: {ours_import:.1f} ms (best of 7, -X importtime cumulative)")

    if not (os.path.exists(REF_PYTHON) and subprocess.run(
            [REF_PYTHON, "-c", "import dvclive"], capture_output=True).returncode == 0):
        print(f"DVCLive reference venv not found ({REF_PYTHON}): no comparison")
        return
    version = subprocess.run([REF_PYTHON, "-c", "import importlib.metadata as m; print(m.version('dvclive'))"],
                             capture_output=True, text=True).stdout.strip()
    ref = run_worker(REF_PYTHON, "dvclive", args.steps, args.ref_long, html=False)
    ref_import = import_ms(REF_PYTHON, "dvclive")
    print(f"DVCLive {version} ({args.steps} steps x 3 metrics, report=None)")
    print(f"  {'':12s} mean {ref['average_us']:8.1f} us/step  median {ref['median_us']:6.1f}   "
          f"step 10: {ref['early_us']:6.1f} us   "
          f"step {args.ref_long}: {ref['late_us']:6.1f} us   late/early {ref['late_us'] / ref['early_us']:.2f}")
    print(f"  import dvclive: {ref_import:.1f} ms")
    print("ratios (DVCLive / ours, higher is better)")
    print(f"  mean step, no report:     {ref['average_us'] / ours_plain['average_us']:6.0f}x")
    print(f"  mean step, html report:   {ref['average_us'] / ours_html['average_us']:6.0f}x")
    print(f"  median step, no report:   {ref['median_us'] / ours_plain['median_us']:6.0f}x")
    print(f"  median step, html report: {ref['median_us'] / ours_html['median_us']:6.0f}x")
    print(f"  step 10 alone:            {ref['early_us'] / ours_html['early_us']:6.0f}x")
    print(f"  import:                   {ref_import / ours_import:6.1f}x")
    print(f"  goal >= 50x per step: {'met' if ref['average_us'] / ours_html['average_us'] >= 50 else 'NOT met'}; "
          f"import < 50 ms: {'met' if ours_import < 50 else 'NOT met'}; flat cost: ours late/early "
          f"{statistics.mean([ours_plain['late_us'] / ours_plain['early_us'], ours_html['late_us'] / ours_html['early_us']]):.2f}")


if __name__ == "__main__":
    main()
