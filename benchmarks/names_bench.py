"""Auto-named experiments in a loop on one baseline: every name unique, and the time it takes.

    .venv/bin/python benchmarks/names_bench.py [--count 10000] [--dvc 10]

Runs ``Repo(".").experiments.run(params={"lr": i})`` ``--count`` times in one process on a one-stage
pipeline (``cmd: echo``, so the loop measures jupyter-exp, not a training), printing the time per
experiment every 10% (it must not grow with the number of refs) and checking at the end that every run
got its own ``refs/exps`` name. With the reference venv (see run.py), DVC 3.67.1 runs ``dvc exp run -S
lr=i`` ``--dvc`` times in the same invocation for the per-experiment figure side by side (its names are
random words, so it never hit exp-xxxxx collisions; 10,000 of its runs would take hours).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

DVC_YAML = "stages:\n  train:\n    cmd: echo training\n    params: [lr]\n"


def make_repo(path: Path) -> None:
    path.mkdir()
    (path / "dvc.yaml").write_text(DVC_YAML)
    (path / "params.yaml").write_text("lr: 0\n")
    for args in (["init", "-q"], ["add", "."], ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "base"]):
        subprocess.run(["git", *args], cwd=path, check=True)
    (path / ".dvc").mkdir()
    (path / ".dvc" / "config").write_text("")
    (path / ".dvc" / ".gitignore").write_text("/config.local\n/tmp\n/cache\n")
    subprocess.run(["git", "add", "."], cwd=path, check=True)
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "dvc"], cwd=path, check=True)


def ours(work: Path, count: int) -> float:
    from jupyter_exp import Repo
    from jupyter_exp.experiments.refs import exp_refs
    from jupyter_exp.scm.git import Git

    root = work / "ours"
    make_repo(root)
    os.chdir(root)
    exps = Repo(".").experiments
    exps.log = lambda _message: None
    names = set()
    start = last = time.perf_counter()
    step = max(1, count // 10)
    for i in range(1, count + 1):
        names.add(exps.run(params={"lr": i}, on_output=lambda _line: None).name)
        if i % step == 0:
            now = time.perf_counter()
            print(f"  {i:6d} experiments  {now - start:7.1f} s  last {step}: {(now - last) / step * 1000:6.1f} ms each",
                  flush=True)
            last = now
    total = time.perf_counter() - start
    refs = len(exp_refs(Git(root)))
    status = "all unique" if len(names) == count == refs else f"NOT unique: {len(names)} names, {refs} refs"
    print(f"jupyter-exp: {count} auto-named experiments in {total:.1f} s ({total / count * 1000:.1f} ms each), "
          f"{status}")
    return total / count


def dvc(work: Path, count: int, bin_dir: Path) -> float:
    root = work / "dvc"
    make_repo(root)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    for i in range(1, count + 1):
        subprocess.run(["dvc", "exp", "run", "-q", "-S", f"lr={i}"], cwd=root, env=env, check=True,
                       capture_output=True)
    each = (time.perf_counter() - start) / count
    print(f"DVC 3.67.1: {count} experiments, {each * 1000:.0f} ms each")
    return each


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--dvc", type=int, default=10, help="DVC runs for the side-by-side figure (0: none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        each = ours(work, args.count)
        ref = next((Path(c) for c in (os.environ.get("JUPYTER_EXP_DVC_VENV"), "/tmp/ref", str(HERE / ".ref-venv"))
                    if c and (Path(c) / "bin" / "dvc").exists()), None)
        if args.dvc and ref is not None:
            theirs = dvc(work, args.dvc, ref / "bin")
            print(f"per experiment: DVC / jupyter-exp = {theirs / each:.1f}x")


if __name__ == "__main__":
    main()
