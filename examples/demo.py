"""`make demo`: build a demo repository and drive it with the real CLI, headless.

Templated pipeline (vars, nested params, foreach build@us/build@gb), experiments with -S, a checkpointed
training logged with jupyter_exp.live, and the experiments table. The repo is left in ./demo-repo to explore.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from dulwich import porcelain

HERE = Path(__file__).resolve().parent
TARGET = Path(os.environ.get("DEMO_DIR", HERE.parent / "demo-repo"))
BIN = Path(sys.executable).parent


def step(title: str) -> None:
    print(f"\n\033[1;34m== {title}\033[0m", flush=True)


def jx(*words: str) -> None:
    print(f"\033[1m$ jupyter exp {' '.join(words)}\033[0m", flush=True)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "COLUMNS": "160"}
    code = subprocess.call([str(BIN / "jupyter-exp"), *words], cwd=TARGET, env=env)
    if code != 0:
        sys.exit(f"demo failed: `jupyter exp {' '.join(words)}` exited with {code}")


def main() -> None:
    if TARGET.exists():
        shutil.rmtree(TARGET)
    shutil.copytree(HERE / "demo", TARGET)
    step(f"A Git repository with a templated dvc.yaml in {TARGET}")
    porcelain.init(str(TARGET))
    jx("init")
    porcelain.add(str(TARGET), paths=[str(p) for p in TARGET.rglob("*") if p.is_file() and ".git" not in p.parts])
    porcelain.commit(str(TARGET), message=b"Demo pipeline", author=b"demo <demo@example.com>",
                     committer=b"demo <demo@example.com>")
    jx("stage", "list")
    jx("dag")

    step("Reproduce: foreach generates build@us and build@gb")
    jx("repro", "prepare", "build")
    jx("status")
    jx("repro", "build")

    step("Experiments: each result is a commit under refs/exps, never a branch")
    jx("run", "-S", "train.lr=0.1", "-S", "train.epochs=3")
    jx("run", "-S", "train.lr=0.2", "-S", "train.epochs=3", "-n", "fast-lr")

    step("Checkpoints: run the same experiment again to resume it")
    jx("run", "-S", "train.lr=0.2", "-S", "train.epochs=3")

    step("The experiments table")
    jx("show", "--no-pager")
    jx("diff")
    jx("metrics", "show")
    print(f"\nDone. Explore it: cd {TARGET} && {BIN / 'jupyter-exp'} show")


if __name__ == "__main__":
    main()
