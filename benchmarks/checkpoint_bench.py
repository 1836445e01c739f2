"""Checkpoint costs under the real ``jupyter-exp`` CLI: per-checkpoint overhead and ``show`` of a long chain.

    python benchmarks/checkpoint_bench.py                         # 100 MB model x 10 steps; 200-step chain
    python benchmarks/checkpoint_bench.py --mb 20 --steps 5 --chain 50   # quicker

1. Overhead: a training script rewrites a ``--mb`` model file (new content every step: the cache must
   hash and store all of it) and times each ``make_checkpoint()`` call. That call returns when the runner
   has hashed and cached the outputs, written ``dvc.lock``, committed the checkpoint and moved the ref,
   so its duration is the whole per-checkpoint overhead the training pays (target: under 0.5 s).
2. ``show``: a run with ``--chain`` checkpoints (a small model, three live metrics), then
   ``jupyter-exp show`` in a fresh process with the per-commit row cache deleted (cold; with
   ``--drop-page-cache`` the OS page cache too) and again with the row cache in place (warm). Target: under 1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
CLI = str(BIN / "jupyter-exp")
ROW_CACHE = Path(".dvc", "tmp", "jupyter-exp", "commits.json")

DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    deps: [train.py]
    params: [steps, mb]
    outs:
      - model.bin:
          checkpoint: true
    live:
      logs:
        cache: false
        summary: true
        html: false
"""
# Wall time of each make_checkpoint() goes to $BENCH_WAITS (outside the repository, so the workspace
# the runner commits is not changed by the measurement itself).
TRAIN = """\
import os
import time

import yaml

from jupyter_exp import live

p = yaml.safe_load(open("params.yaml"))
model = bytearray(os.urandom(max(p["mb"] * (1 << 20), 64)))
live.init()
waits = []
for step in range(p["steps"]):
    model[:8] = step.to_bytes(8, "little")
    with open("model.bin", "wb") as f:
        f.write(model)
    live.log("loss", 1 / (step + 1))
    live.log("acc", 1 - 1 / (step + 2))
    live.log("lr", 0.01)
    start = time.perf_counter()
    live.next_step()  # the checkpoint: waits until the runner has committed it
    waits.append(time.perf_counter() - start)
with open(os.environ["BENCH_WAITS"], "w") as f:
    f.write("\\n".join(f"{w:.6f}" for w in waits))
"""


def cli(root: Path, *words: str) -> str:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([CLI, *words], cwd=root, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"jupyter-exp {' '.join(words)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def make_repo(root: Path, steps: int, mb: int) -> None:
    """A dulwich-made Git repository with ``.dvc/`` and the training stage, committed."""
    from dulwich import porcelain

    root.mkdir(parents=True)
    porcelain.init(str(root))
    cli(root, "init")
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "train.py").write_text(TRAIN)
    (root / "params.yaml").write_text(f"steps: {steps}\nmb: {mb}\n")
    files = [str(p) for p in root.rglob("*") if p.is_file() and ".git" not in p.relative_to(root).parts]
    porcelain.add(str(root), paths=files)
    who = b"bench <bench@example.com>"
    porcelain.commit(str(root), message=b"training", author=who, committer=who)


def run_training(root: Path, waits_file: Path) -> tuple[float, list[float]]:
    os.environ["BENCH_WAITS"] = str(waits_file)
    start = time.perf_counter()
    out = cli(root, "run")
    total = time.perf_counter() - start
    waits = [float(x) for x in waits_file.read_text().split()]
    made = out.count("Checkpoint experiment iteration")
    if made < len(waits):
        sys.exit(f"expected {len(waits)} checkpoints, the run reported {made}:\n{out}")
    return total, waits


def drop_page_cache(enabled: bool) -> bool:
    """Drop the OS page cache (machine-wide, so only on request) when allowed; True when done."""
    if not enabled:
        return False
    with contextlib.suppress(OSError):
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    return False


def time_show(root: Path, *, cold: bool, drop: bool = False) -> tuple[float, int]:
    if cold:
        (root / ROW_CACHE).unlink(missing_ok=True)
        drop_page_cache(drop)
    start = time.perf_counter()
    out = cli(root, "show", "--no-pager")
    return time.perf_counter() - start, len(out.splitlines())


def overhead(work: Path, mb: int, steps: int) -> None:
    root = work / "overhead"
    make_repo(root, steps, mb)
    total, waits = run_training(root, work / "waits-overhead.txt")
    hashed = _md5_seconds(mb)
    print(f"\n== Per-checkpoint overhead, {mb} MB model file, {steps} checkpoints (hash + cache + lock + commit)")
    print(f"make_checkpoint() wait: median {statistics.median(waits):.3f} s, mean {statistics.mean(waits):.3f} s, "
          f"max {max(waits):.3f} s   (target < 0.5 s)")
    print(f"for scale: md5 of {mb} MB alone takes {hashed:.3f} s on this machine")
    print(f"whole `jupyter-exp run`: {total:.2f} s")


def _md5_seconds(mb: int) -> float:
    import hashlib

    data = os.urandom(mb << 20)
    start = time.perf_counter()
    hashlib.md5(data).hexdigest()
    return time.perf_counter() - start


def long_chain(work: Path, chain: int, drop: bool) -> None:
    root = work / "chain"
    make_repo(root, chain, 0)
    total, waits = run_training(root, work / "waits-chain.txt")
    print(f"\n== A run with {chain} checkpoints (small model, three live metrics per step)")
    print(f"`jupyter-exp run`: {total:.2f} s, {total / chain * 1000:.1f} ms per step; "
          f"make_checkpoint() wait median {statistics.median(waits) * 1000:.1f} ms")
    dropped = drop_page_cache(drop)
    print(f"OS page cache dropped before cold runs: {'yes' if dropped else 'no' + (' (not permitted)' if drop else '')}")
    for bytecode in (False, True):
        _use_bytecode_cache(work, bytecode)
        if bytecode:
            cli(root, "--version")  # compile once, as installing the package does
        cold = [time_show(root, cold=True, drop=dropped) for _ in range(3)]
        warm = [time_show(root, cold=False) for _ in range(3)]
        rows = cold[0][1]
        print(f"-- Python bytecode cache {'on (as installed)' if bytecode else 'off (PYTHONDONTWRITEBYTECODE)'}:")
        print(f"`jupyter-exp show` cold (fresh process, row cache deleted): "
              f"{', '.join(f'{t:.3f}' for t, _ in cold)} s   (target < 1 s; {rows} lines printed)")
        print(f"`jupyter-exp show` warm (fresh process, row cache kept):    "
              f"{', '.join(f'{t:.3f}' for t, _ in warm)} s")
    start = time.perf_counter()
    cli(root, "--version")
    print(f"for scale: `jupyter-exp --version` (process start + CLI import) takes {time.perf_counter() - start:.3f} s")
    data = json.loads(cli(root, "show", "--json"))
    checkpoints = sum(1 for row in data if row.get("kind") == "checkpoint" or row.get("kind") == "experiment")
    if checkpoints < chain:
        sys.exit(f"exp show listed {checkpoints} experiment rows, expected {chain}")


def _use_bytecode_cache(work: Path, enabled: bool) -> None:
    """Sandboxes often set PYTHONDONTWRITEBYTECODE, so every CLI start recompiles our modules (~0.1 s);
    an installed package has its .pyc files. Measure both; the .pyc files go under ``work``."""
    if enabled:
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    else:
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
        os.environ.pop("PYTHONPYCACHEPREFIX", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=100, help="model file size for the overhead run")
    parser.add_argument("--steps", type=int, default=10, help="checkpoints in the overhead run")
    parser.add_argument("--chain", type=int, default=200, help="checkpoints in the run shown by `show`")
    parser.add_argument("--drop-page-cache", action="store_true",
                        help="also drop the OS page cache before cold `show` runs (machine-wide; needs root)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ckpt-bench-") as tmp:
        work = Path(tmp)
        overhead(work, args.mb, args.steps)
        long_chain(work, args.chain, args.drop_page_cache)


if __name__ == "__main__":
    main()
