"""A Git repository (made with dulwich) holding a checkpointed training stage, and helpers that drive the
real ``jupyter-exp`` CLI in subprocesses and read what it left behind with the real ``git`` CLI."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent / "jupyter-exp")
SIGNAL_FILE = Path(".dvc") / "tmp" / "DVC_CHECKPOINT"

# The numpy loop: linear regression whose model file holds [step, *weights]. It resumes from model.npy
# when the runner kept it, and checks that the logger (resumed from logs.json through DVCLIVE_RESUME)
# agrees on the step. `EPOCHS`/`DELAY` in the environment let a test train "until interrupted".
NUMPY_DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    deps: [train.py]
    params: [train.lr, train.epochs]
    outs:
      - model.npy:
          checkpoint: true
    live:
      logs:
        cache: false
        summary: true
        html: false
"""
NUMPY_TRAIN = """\
import os
import time

import numpy as np
import yaml

from jupyter_exp import live

p = yaml.safe_load(open("params.yaml"))["train"]
epochs = int(os.environ.get("EPOCHS", p["epochs"]))
delay = float(os.environ.get("DELAY", "0"))
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 3))
y = x @ np.array([1.5, -2.0, 0.5])
if os.path.exists("model.npy"):
    saved = np.load("model.npy")
    step, w = int(saved[0]) + 1, saved[1:]
    print(f"resuming at step {step}", flush=True)
else:
    step, w = 0, np.zeros(3)
    print("fresh start", flush=True)
live.init()
assert live.get_step() == step, f"logger step {live.get_step()} != model step {step}"
for _ in range(epochs):
    time.sleep(delay)
    w = w - p["lr"] * (x.T @ (x @ w - y)) / len(x)
    np.save("model.npy", np.concatenate([[step], w]))
    live.log("loss", float(np.mean((x @ w - y) ** 2)))
    live.log("w0", w[0])
    live.next_step()
    step += 1
"""
PARAMS = "train:\n  lr: 0.1\n  epochs: 3\n"


@dataclass
class Project:
    """A repository under test and the commands to drive it."""

    root: Path
    baseline: str

    def run_cli(self, *words: str, env: dict[str, str] | None = None, check: bool = True) -> str:
        proc = subprocess.run(
            [CLI, *words], cwd=self.root, env=cli_env(env), capture_output=True, text=True, timeout=120
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"jupyter-exp {' '.join(words)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
        return proc.stdout + proc.stderr

    def git(self, *args: str) -> str:
        return git(self.root, *args)

    def exp_refs(self) -> dict[str, str]:
        """``{ref: sha}`` under refs/exps (the runner's internal refs under refs/exps/exec excluded)."""
        out = self.git("for-each-ref", "--format=%(refname) %(objectname)", "refs/exps")
        pairs = (line.split() for line in out.splitlines())
        return {ref: sha for ref, sha in pairs if not ref.startswith("refs/exps/exec/")}

    def ref_of(self, name: str) -> str:
        return f"refs/exps/{self.baseline[:2]}/{self.baseline[2:]}/{name}"

    def chain(self, tip: str, stop: str | None = None) -> list[str]:
        """Commits from ``tip`` back along first parents, excluding ``stop`` (default: the baseline) and
        its ancestors; oldest first."""
        return self.git("rev-list", "--first-parent", "--reverse", tip, f"^{stop or self.baseline}").split()

    def show_file(self, sha: str, path: str) -> str:
        return self.git("show", f"{sha}:{path}")

    def step_of(self, sha: str) -> int:
        return int(json.loads(self.show_file(sha, "logs.json"))["step"])

    def model_entry(self, sha: str, path: str = "model.npy") -> dict[str, object]:
        """The ``dvc.lock`` entry of the checkpoint output ``path`` in commit ``sha``."""
        import yaml

        lock = yaml.safe_load(self.show_file(sha, "dvc.lock"))
        (entry,) = [o for o in lock["stages"]["train"]["outs"] if o["path"] == path]
        return entry

    def cache_object(self, md5: str) -> Path:
        return self.root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]

    def assert_consistent(self, sha: str) -> int:
        """The commit's ``dvc.lock`` names a cached model whose bytes hash to that md5 and whose step is
        the step of the commit's ``logs.json`` and the last row of its TSV; returns that step."""
        import numpy as np

        entry = self.model_entry(sha)
        obj = self.cache_object(str(entry["md5"]))
        assert obj.is_file(), f"{sha[:7]}: cache object of model.npy {entry['md5']} is missing"
        data = obj.read_bytes()
        assert hashlib.md5(data).hexdigest() == entry["md5"] and len(data) == entry["size"]
        step = self.step_of(sha)
        assert int(np.load(obj)[0]) == step, f"{sha[:7]}: model step differs from logs.json step {step}"
        assert tsv_steps(self.show_file(sha, "logs/loss.tsv"))[-1] == step
        return step


def tsv_steps(text: str) -> list[int]:
    lines = text.splitlines()
    assert lines[0].split("\t") == ["timestamp", "step", lines[0].split("\t")[2]]
    return [int(line.split("\t")[1]) for line in lines[1:]]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "COLUMNS": "200", **(extra or {})}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def experiment_name(output: str) -> str:
    match = re.search(r"Reproduced experiment\(s\): (\S+)", output)
    assert match, output
    return match.group(1)


def show_rows(output: str) -> list[list[str]]:
    """``jupyter-exp show`` text as cells (columns are separated by two or more spaces)."""
    return [re.split(r"\s{2,}", line.strip()) for line in output.splitlines() if line.strip()]


def commit_all(root: Path, message: str) -> str:
    """Stage every non-ignored file and commit with dulwich; returns the new HEAD sha."""
    from dulwich import porcelain

    files = [str(p) for p in root.rglob("*") if p.is_file() and ".git" not in p.relative_to(root).parts]
    porcelain.add(str(root), paths=files)
    identity = b"Tester <tester@example.com>"
    return porcelain.commit(str(root), message=message.encode(), author=identity, committer=identity).decode()


def make_project(root: Path, dvc_yaml: str, files: dict[str, str]) -> Project:
    (root / "dvc.yaml").write_text(dvc_yaml)
    for name, text in files.items():
        (root / name).write_text(text)
    baseline = commit_all(root, "training pipeline")
    return Project(root, baseline)


@pytest.fixture
def numpy_project(git_repo: Path) -> Project:
    return make_project(git_repo, NUMPY_DVC_YAML, {"train.py": NUMPY_TRAIN, "params.yaml": PARAMS})
