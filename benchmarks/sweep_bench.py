"""Sweeps of 20 experiments at ``-j 2``: an Optuna search and a queued grid, ours beside DVC 3.67.1's grid.

    python benchmarks/sweep_bench.py [--trials 20] [--jobs 2] [--notebook]

One repository per run (a dulwich-made Git repo with ``.dvc/``), one stage training a toy model with the
live logger (``jupyter_exp.live`` for us, DVCLive for DVC) over 5 steps. Timed, each from a cold CLI:

- ours: ``jupyter exp sweep --optuna N -S 'train.lr=loguniform(1e-4,1e-1)' --objective acc -j J``
- ours: ``jupyter exp run --queue -S 'train.lr=range(1,N+1)'`` then ``run --run-all -j J``
- DVC: ``dvc exp run --queue -S 'train.lr=range(1,N+1)'`` then ``dvc exp run --run-all -j J``

DVC has no model-based search, so its queued grid of the same size is the comparison for the sweep.
``--notebook`` makes the stage a notebook run by papermill (``stage add --notebook``; ours only, since it
needs jupyter-exp's notebook stage) to show the per-trial cost of starting a kernel.
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
# Beside this interpreter, so the benchmark runs without the venv on PATH.
OURS = str(Path(sys.executable).parent / "jupyter-exp")
sys.path.insert(0, str(HERE))

from run import reference_venv  # noqa: E402

TRAIN = """\
import json, math, yaml
from {module} import Live
p = yaml.safe_load(open("params.yaml"))["train"]
live = Live("logs")
for step in range(5):
    acc = round(1 - abs(math.log10(p["lr"]) + 2) / 4 - 0.02 * (4 - step), 4)
    live.log_metric("acc", acc)
    live.next_step()
live.end()
json.dump({{"acc": acc}}, open("metrics.json", "w"))
"""


def make_repo(root: Path, tool: str, python: Path, notebook: bool) -> None:
    from dulwich import porcelain

    root.mkdir(parents=True)
    porcelain.init(str(root))
    env = {**os.environ, "GIT_AUTHOR_NAME": "B", "GIT_AUTHOR_EMAIL": "b@e.com"}
    code = TRAIN.format(module="jupyter_exp.live" if tool == "ours" else "dvclive")
    (root / "params.yaml").write_text("train:\n  lr: 0.01\n")
    if tool == "ours":
        subprocess.run([OURS, "init"], cwd=root, check=True, capture_output=True, env=env)
    else:
        subprocess.run([str(python.parent / "dvc"), "init", "-q"], cwd=root, check=True, env=env)
    if notebook:
        import nbformat

        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        params = nbformat.v4.new_code_cell("lr = 0.01")
        params.metadata["tags"] = ["parameters"]
        nb.cells = [
            params,
            nbformat.v4.new_code_cell(
                code.replace('yaml.safe_load(open("params.yaml"))["train"]', '{"lr": lr}')
            ),
        ]
        nbformat.write(nb, root / "train.ipynb")
        words = [
            "stage",
            "add",
            "-n",
            "train",
            "--notebook",
            "train.ipynb",
            "-p",
            "train.lr",
            "--live",
            "logs",
            "-M",
            "metrics.json",
        ]
    else:
        (root / "train.py").write_text(code)
        stage = ["-n", "train", "-d", "train.py", "-p", "train.lr", "-M", "metrics.json"]
        if tool == "ours":
            words = ["stage", "add", *stage, "--live", "logs", f"{python} train.py"]
        else:
            words = ["stage", "add", *stage, "-o", "logs", f"{python} train.py"]
    cli = [OURS] if tool == "ours" else [str(python.parent / "dvc")]
    subprocess.run([*cli, *words], cwd=root, check=True, capture_output=True, env=env)
    for message in (b"pipeline", b"baseline"):  # DVCLive wants a commit before it runs
        porcelain.add(str(root))
        porcelain.commit(str(root), message=message, author=b"B <b@e.com>", committer=b"B <b@e.com>")
        if message == b"pipeline":
            subprocess.run([*cli, "repro"], cwd=root, check=True, capture_output=True, env=env)


def timed(cwd: Path, *commands: list[str], env: dict[str, str] | None = None) -> float:
    started = time.monotonic()
    for command in commands:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return time.monotonic() - started


def count_exps(cwd: Path) -> int:
    out = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname)", "refs/exps/"], cwd=cwd, capture_output=True, text=True
    ).stdout
    return sum(
        1 for line in out.splitlines() if "/celery/" not in line and not line.startswith("refs/exps/exec")
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--notebook", action="store_true", help="the stage is a notebook run by papermill (ours only)"
    )
    args = parser.parse_args()
    n, j = args.trials, args.jobs
    grid = [f"train.lr=choice({','.join(str(round(10 ** (-4 + 3 * i / (n - 1)), 6)) for i in range(n))})"]
    with tempfile.TemporaryDirectory(prefix="jx-sweep-bench-") as scratch:
        work = Path(scratch)
        results: list[tuple[str, float, int]] = []
        ours = work / "ours-sweep"
        make_repo(ours, "ours", Path(sys.executable), args.notebook)
        sweep = [OURS, "sweep", "--optuna", str(n), "-S", "train.lr=loguniform(1e-4,1e-1)",
                 "--objective", "acc", "--direction", "maximize", "-j", str(j), "--seed", "0"]  # fmt: skip
        results.append(("ours: Optuna sweep", timed(ours, sweep), count_exps(ours)))
        ours_grid = work / "ours-grid"
        make_repo(ours_grid, "ours", Path(sys.executable), args.notebook)
        queue = [OURS, "run", "--queue", "-S", grid[0]]
        run_all = [OURS, "run", "--run-all", "-j", str(j)]
        results.append(("ours: queued grid", timed(ours_grid, queue, run_all), count_exps(ours_grid)))
        if not args.notebook:
            ref = reference_venv()
            dvc_repo = work / "dvc-grid"
            make_repo(dvc_repo, "dvc", ref / "bin" / "python", False)
            env = {
                **os.environ,
                "PATH": f"{ref / 'bin'}{os.pathsep}{os.environ['PATH']}",
                "DVC_NO_ANALYTICS": "1",
            }
            env.pop("PYTHONPATH", None)
            dvc = str(ref / "bin" / "dvc")
            seconds = timed(
                dvc_repo,
                [dvc, "exp", "run", "--queue", "-S", grid[0]],
                [dvc, "exp", "run", "--run-all", "-j", str(j)],
                env=env,
            )
            results.append(("DVC 3.67.1: queued grid", seconds, count_exps(dvc_repo)))
    stage = "notebook stage (papermill)" if args.notebook else "script stage"
    print(f"{n} experiments at -j {j}, {stage}, 5 live steps each")
    for label, seconds, made in results:
        print(
            f"  {label:<26} {seconds:6.1f} s  ({seconds / n:.2f} s per experiment, {made} experiments made)"
        )
    if not args.notebook:
        dvc_seconds = results[-1][1]
        print(
            f"  DVC grid / our sweep: {dvc_seconds / results[0][1]:.1f}x; DVC grid / our grid: {dvc_seconds / results[1][1]:.1f}x"
        )


if __name__ == "__main__":
    main()
