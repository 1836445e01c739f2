"""Kill anywhere: SIGKILL ``repro``, ``exp run``, a checkpoint training, a queue worker and ``data push`` at
random moments, then check that nothing was lost or corrupted and that a clean re-run recovers.

After each kill: ``git fsck --strict`` is clean; every cache (and remote) object holds the content its
name says (no partial object under a final name); the files the user wrote are unchanged; ``status`` tells
the truth (ours agrees with the real DVC's, sampled every few rounds, and never calls a stage up to date
whose recorded output files differ on disk); every checkpoint reported as made is still on its ref. Then
the same command runs to the end, ``status`` is clean and no temporary workspace is left. Each round's
delay comes from a seeded generator: a failure names the scenario, round and delay to replay it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from conftest import DVC, git

pytestmark = [pytest.mark.faults, pytest.mark.dvc]

# Rounds per scenario (104 in all, about 3 minutes on 2 cores with -n 2); $JUPYTER_EXP_FAULT_SCALE multiplies.
ROUNDS = {"repro": 24, "exp-run": 24, "checkpoints": 20, "queue": 12, "push": 24}
SCALE = float(os.environ.get("JUPYTER_EXP_FAULT_SCALE", "1"))
DVC_EVERY = 8  # the real DVC's status (1-2 s a call) on every eighth round
SEED = int(os.environ.get("JUPYTER_EXP_FAULT_SEED", "20261206"))
MARK = "JUPYTER_EXP_FAULT_MARK"
PY = sys.executable

DVC_YAML = f"""\
stages:
  prepare:
    cmd: {PY} prepare.py
    deps: [prepare.py, raw.txt]
    params: [prepare.files]
    outs: [data]
  train:
    cmd: {PY} train.py
    deps: [train.py, data]
    params: [train.lr]
    outs: [model.bin]
    metrics:
      - metrics.json:
          cache: false
"""
PREPARE = """\
import hashlib, os, yaml
n = yaml.safe_load(open("params.yaml"))["prepare"]["files"]
seed = open("raw.txt").read()
os.makedirs("data", exist_ok=True)
for i in range(n):
    block = hashlib.sha256(f"{seed}{i}".encode()).digest() * 2048
    with open(f"data/part-{i:03d}.bin", "wb") as out:
        out.write(block)
"""
TRAIN = """\
import json, os, yaml
lr = yaml.safe_load(open("params.yaml"))["train"]["lr"]
size = sum(os.path.getsize(os.path.join("data", f)) for f in os.listdir("data"))
with open("model.bin", "wb") as out:
    out.write(repr((lr, size)).encode() * 40000)
json.dump({"loss": round(1 / (1 + lr), 6)}, open("metrics.json", "w"))
"""
CKPT_YAML = f"""\
stages:
  train:
    cmd: {PY} train.py
    deps: [train.py]
    params: [lr]
    outs:
      - model.txt:
          checkpoint: true
    metrics:
      - metrics.json:
          cache: false
"""
CKPT_TRAIN = """\
import json, os, time, yaml
from jupyter_exp.live import make_checkpoint
lr = yaml.safe_load(open("params.yaml"))["lr"]
start = int(open("model.txt").read().split()[0]) + 1 if os.path.exists("model.txt") else 0
for step in range(start, start + 4):
    time.sleep(0.05)
    open("model.txt", "w").write(f"{step} lr={lr}")
    json.dump({"step": step}, open("metrics.json", "w"))
    make_checkpoint()
"""


# -- the repository ---------------------------------------------------------------------------------


def make_repo(root: Path, files: dict[str, str]) -> Path:
    root.mkdir()
    git(root, "init", "-q")
    cli(root, "init")
    for rel, text in files.items():
        (root / rel).write_text(text)
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "pipeline")
    return root


def pipeline_repo(root: Path) -> Path:
    return make_repo(root, {"dvc.yaml": DVC_YAML, "prepare.py": PREPARE, "train.py": TRAIN, "raw.txt": "seed\n",
                            "params.yaml": "prepare:\n  files: 12\ntrain:\n  lr: 0.1\n"})


def env(mark: str) -> dict[str, str]:
    return {**os.environ, MARK: mark, "DVC_NO_ANALYTICS": "1"}


def cli(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([PY, "-m", "jupyter_exp.cli", *args], cwd=root, capture_output=True, text=True,
                          env=env("clean"))
    if check:
        assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


# -- killing -----------------------------------------------------------------------------------------


def marked_pids(mark: str) -> list[int]:
    """Every process carrying ``mark`` in its environment: the command and all it started, orphans too
    (stage commands run in sessions of their own)."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if needle in Path("/proc", entry, "environ").read_bytes().split(b"\0"):
                    found.append(int(entry))
            except OSError:
                continue
    return found


def kill_marked(mark: str) -> None:
    for pid in marked_pids(mark):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while marked_pids(mark) and time.monotonic() < deadline:  # dying processes leave /proc shortly
        time.sleep(0.01)


def start(root: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    mark = uuid.uuid4().hex
    proc = subprocess.Popen([PY, "-m", "jupyter_exp.cli", *args], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env(mark), start_new_session=True)
    return proc, mark


def kill_after(root: Path, delay: float, *args: str) -> str:
    """Start the command, SIGKILL its process group (and its stages) after ``delay``; its output so far."""
    proc, mark = start(root, *args)
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGKILL)
    kill_marked(mark)
    out = proc.communicate()[0]
    return out


# -- checks ------------------------------------------------------------------------------------------


def snapshot(root: Path, paths: list[str]) -> dict[str, bytes]:
    return {rel: (root / rel).read_bytes() for rel in paths}


def check_objects(folder: Path, where: str) -> int:
    """Every object under ``folder`` (``files/md5/xx/...``) holds what its name says; returns how many."""
    count = 0
    for path in (folder / "files" / "md5").glob("*/*"):
        if path.name.endswith(".tmp") or path.name.startswith("."):
            continue
        digest = path.parent.name + path.name.removesuffix(".dir")
        assert hashlib.md5(path.read_bytes()).hexdigest() == digest, f"{where}: partial object {path}"
        count += 1
    return count


def our_status(root: Path) -> set[str]:
    return set(json.loads(cli(root, "status", "--json").stdout or "{}"))


def dvc_status(root: Path) -> set[str]:
    done = subprocess.run([str(DVC), "status", "--json"], cwd=root, capture_output=True, text=True, env=env("dvc"))
    assert done.returncode == 0, done.stdout + done.stderr
    return set(json.loads(done.stdout or "{}"))


def recorded_files_match(root: Path, stage: str) -> bool:
    """Independently of our code: do the plain-file outputs ``dvc.lock`` records for ``stage`` match disk?"""
    lock = yaml.safe_load((root / "dvc.lock").read_text()) if (root / "dvc.lock").exists() else {}
    entry = (lock or {}).get("stages", {}).get(stage)
    if entry is None:
        return False
    for out in entry.get("outs", []):
        path = root / out["path"]
        if out["md5"].endswith(".dir"):
            continue
        if not path.is_file() or hashlib.md5(path.read_bytes()).hexdigest() != out["md5"]:
            return False
    return True


def check_after_kill(root: Path, user: dict[str, bytes], rnd: int, context: str) -> None:
    subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=root, check=True, capture_output=True)
    check_objects(root / ".dvc" / "cache", context)
    assert snapshot(root, list(user)) == user, f"{context}: a user file changed"
    if (root / "dvc.yaml").exists():
        changed = our_status(root)
        for stage in yaml.safe_load((root / "dvc.yaml").read_text())["stages"]:
            if stage not in changed:
                assert recorded_files_match(root, stage), f"{context}: status calls '{stage}' up to date, it is not"
        if rnd % DVC_EVERY == 0:
            assert dvc_status(root) == changed, f"{context}: DVC's status differs from ours ({changed})"


def check_recovered(root: Path, rnd: int, context: str) -> None:
    assert our_status(root) == set(), f"{context}: not clean after the re-run"
    if rnd % DVC_EVERY == 0:
        assert dvc_status(root) == set(), f"{context}: DVC sees changes after the re-run"
    queue = root / ".dvc" / "tmp" / "jupyter-exp" / "queue"
    assert not [p for p in queue.glob("*") if p.is_dir()] if queue.exists() else True, f"{context}: stray workspace"
    stray = [p for p in root.rglob("*.tmp") if ".git" not in p.parts and "cache" not in p.parts]
    assert not stray, f"{context}: temporary files left: {stray}"


def rounds(name: str) -> list[tuple[int, float, random.Random]]:
    rng = random.Random(f"{SEED}-{name}")
    return [(i, rng.random(), rng) for i in range(max(1, round(ROUNDS[name] * SCALE)))]


def measured(root: Path, *args: str) -> float:
    """How long the command takes to the end (the window the kills fall into)."""
    start_s = time.monotonic()
    cli(root, *args)
    return time.monotonic() - start_s


# -- scenarios ---------------------------------------------------------------------------------------


def test_repro_killed_anywhere(tmp_path: Path) -> None:
    root = pipeline_repo(tmp_path / "repo")
    window = measured(root, "repro")
    user = snapshot(root, ["dvc.yaml", "prepare.py", "train.py", "raw.txt", "params.yaml"])
    for rnd, fraction, _rng in rounds("repro"):
        context = f"repro round {rnd} (delay {fraction * window:.3f} s of {window:.2f})"
        kill_after(root, fraction * window, "repro", "-f")
        check_after_kill(root, user, rnd, context)
        cli(root, "repro")
        check_recovered(root, rnd, context)


def test_exp_run_killed_anywhere(tmp_path: Path) -> None:
    root = pipeline_repo(tmp_path / "repo")
    window = measured(root, "exp", "run", "-S", "train.lr=0.5")
    user = snapshot(root, ["dvc.yaml", "prepare.py", "train.py", "raw.txt"])
    for rnd, fraction, rng in rounds("exp-run"):
        context = f"exp run round {rnd} (delay {fraction * window:.3f} s of {window:.2f})"
        setting = f"train.lr={rng.randint(1, 10**6) / 10**6}"
        kill_after(root, fraction * window, "exp", "run", "-S", setting)
        check_after_kill(root, user, rnd, context)
        cli(root, "exp", "run", "-S", setting)
        check_recovered(root, rnd, context)


def test_checkpoint_training_killed_anywhere(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", {"dvc.yaml": CKPT_YAML, "train.py": CKPT_TRAIN, "params.yaml": "lr: 0.1\n"})
    window = measured(root, "exp", "run")
    user = snapshot(root, ["dvc.yaml", "train.py"])
    for rnd, fraction, _rng in rounds("checkpoints"):
        context = f"checkpoint round {rnd} (delay {fraction * window:.3f} s of {window:.2f})"
        out = kill_after(root, fraction * window, "exp", "run")
        made = re.findall(r"Checkpoint experiment iteration '([0-9a-f]{7})'", out)
        check_after_kill(root, user, rnd, context)
        kept = git(root, "rev-list", "--exclude=refs/exps/exec/*", "--glob=refs/exps/*").split()
        assert all(any(sha.startswith(short) for sha in kept) for short in made), f"{context}: a checkpoint was lost"
        rerun = cli(root, "exp", "run")
        assert "Checkpoint experiment iteration" in rerun.stdout, context
        assert our_status(root) == set(), f"{context}: not clean after the re-run"


def test_queue_worker_killed_anywhere(tmp_path: Path) -> None:
    root = pipeline_repo(tmp_path / "repo")
    cli(root, "repro")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "results")
    cli(root, "exp", "run", "--queue", "-S", "train.lr=0.7")
    window = measured(root, "exp", "run", "--run-all")
    workspace = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and ".git" not in p.parts
                 and ".dvc" not in p.parts]
    user = snapshot(root, workspace)  # a queued run never touches the user's workspace
    runs = root / ".dvc" / "tmp" / "jupyter-exp" / "queue"
    for rnd, fraction, rng in rounds("queue"):
        context = f"queue round {rnd} (delay {fraction * window:.3f} s of {window:.2f})"
        cli(root, "exp", "run", "--queue", "-S", f"train.lr={rng.randint(1, 10**6) / 10**6}")
        proc, mark = start(root, "exp", "run", "--run-all")
        pid_files = []
        deadline = time.monotonic() + 30
        while not pid_files and time.monotonic() < deadline and proc.poll() is None:
            pid_files = list(runs.glob("*/worker.pid"))
            time.sleep(0.005)
        time.sleep(fraction * window / 2)
        for pid_file in pid_files:  # the worker's own group, as the OOM killer would pick it
            with contextlib.suppress(ProcessLookupError, ValueError, OSError):
                os.killpg(int(pid_file.read_text()), signal.SIGKILL)
        proc.communicate(timeout=60)
        kill_marked(mark)
        check_after_kill(root, user, rnd, context)
        cli(root, "remove", "--queue")
        cli(root, "exp", "run", "--queue", "-S", f"train.lr={rng.randint(1, 10**6) / 10**6}")
        cli(root, "exp", "run", "--run-all")
        assert snapshot(root, workspace) == user, context
        check_recovered(root, rnd, context)


def test_data_push_killed_anywhere(tmp_path: Path) -> None:
    root = pipeline_repo(tmp_path / "repo")
    store = tmp_path / "store"
    cli(root, "remote", "add", "-d", "store", str(store))
    cli(root, "repro")
    window = measured(root, "data", "push")
    pushed = check_objects(store, "the first push")
    user = snapshot(root, ["dvc.yaml", "prepare.py", "train.py", "raw.txt", "params.yaml"])
    for rnd, fraction, _rng in rounds("push"):
        context = f"push round {rnd} (delay {fraction * window:.3f} s of {window:.2f})"
        shutil.rmtree(store, ignore_errors=True)
        kill_after(root, fraction * window, "data", "push")
        check_after_kill(root, user, rnd, context)
        check_objects(store, context)
        cli(root, "data", "push")
        assert check_objects(store, context) == pushed, f"{context}: the re-run did not push everything"
        assert not list(store.rglob("*.tmp")), f"{context}: the re-run left a killed upload's temp file"
        check_recovered(root, rnd, context)
