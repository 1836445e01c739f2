"""10,000 experiments on one baseline, side by side with DVC 3.67.1 in the same run.

    python benchmarks/exps_bench.py --count 10000            # ours, and DVC (with a time limit)
    python benchmarks/exps_bench.py --count 1000 --no-dvc

The repository (a stage with params and a metrics file, ``dvc.lock`` committed) gets COUNT experiment
commits written straight into one pack with dulwich and their refs into ``packed-refs``, as
``exp run`` would leave them (``refs/exps/<base[:2]>/<base[2:]>/<name>``), in seconds. Each tool then
runs, from the CLI: ``exp show`` cold (first call; for us the per-commit row cache is empty) and warm
(median of 3), and ``exp remove -A``. DVC works on its own copy of the same repository.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dulwich.objects import Blob, Commit, Tree
from dulwich.repo import Repo as DulwichRepo

HERE = Path(__file__).resolve().parent
OUR_BIN = Path(sys.executable).parent

DVC_YAML = b"""stages:
  train:
    cmd: python train.py
    deps: [train.py]
    params: [train.lr, train.epochs]
    metrics:
      - metrics.json:
          cache: false
"""


def _lock(metrics: bytes, params: tuple[float, int]) -> bytes:
    md5 = hashlib.md5(metrics).hexdigest()
    return (
        "schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n    deps:\n    - path: train.py\n"
        "      hash: md5\n      md5: 0cc175b9c0f1b6a831c399e269772661\n      size: 1\n"
        f"    params:\n      params.yaml:\n        train.epochs: {params[1]}\n        train.lr: {params[0]}\n"
        f"    outs:\n    - path: metrics.json\n      hash: md5\n      md5: {md5}\n      size: {len(metrics)}\n"
    ).encode()


def _files(i: int, count: int) -> dict[bytes, bytes]:
    lr, epochs = round(i / count, 6), 5 + i % 7
    metrics = f'{{"acc": {round(i / count, 6)}, "loss": {round(1 - i / count, 6)}}}'.encode()
    return {
        b"dvc.yaml": DVC_YAML,
        b"train.py": b"a",
        b"params.yaml": f"train:\n  lr: {lr}\n  epochs: {epochs}\n".encode(),
        b"metrics.json": metrics,
        b"dvc.lock": _lock(metrics, (lr, epochs)),
        b".gitignore": b"",
    }


def build_repo(root: Path, count: int) -> None:
    """A baseline commit and ``count`` experiment commits on it, written in one pack plus packed-refs."""
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".dvc").mkdir()
    (root / ".dvc" / "config").write_text("")
    (root / ".dvc" / ".gitignore").write_text("/config.local\n/tmp\n/cache\n")
    objects: list[Blob | Tree | Commit] = []

    def commit(files: dict[bytes, bytes], parents: list[bytes], message: str, when: int) -> Commit:
        tree = Tree()
        dvc_tree = Tree()
        for name, path in ((b"config", ".dvc/config"), (b".gitignore", ".dvc/.gitignore")):
            blob = Blob.from_string((root / path).read_bytes())
            objects.append(blob)
            dvc_tree.add(name, 0o100644, blob.id)
        objects.append(dvc_tree)
        tree.add(b".dvc", 0o040000, dvc_tree.id)
        for name, data in files.items():
            blob = Blob.from_string(data)
            objects.append(blob)
            tree.add(name, 0o100644, blob.id)
        objects.append(tree)
        c = Commit()
        c.tree, c.parents, c.message = tree.id, parents, message.encode()
        c.author = c.committer = b"bench <bench@example.com>"
        c.author_time = c.commit_time = when
        c.author_timezone = c.commit_timezone = 0
        objects.append(c)
        return c

    start = int(time.time()) - count - 10
    base = commit(_files(count // 2, count), [], "baseline", start)
    for name, data in _files(count // 2, count).items():
        (root / name.decode()).write_bytes(data)
    exps = [
        commit(_files(i, count), [base.id], f"dvc: commit experiment {i}", start + 1 + i)
        for i in range(count)
    ]
    repo = DulwichRepo(str(root))
    repo.object_store.add_objects([(obj, None) for obj in {o.id: o for o in objects}.values()])
    head = base.id.decode()
    refs = [(f"refs/exps/{head[:2]}/{head[2:]}/exp-{i:05d}", c.id.decode()) for i, c in enumerate(exps)]
    refs.append(("refs/heads/master", head))
    lines = "".join(f"{sha} {ref}\n" for ref, sha in sorted(refs))
    (root / ".git" / "packed-refs").write_text("# pack-refs with: peeled fully-peeled sorted \n" + lines)
    (root / ".git" / "HEAD").write_text("ref: refs/heads/master\n")
    subprocess.run(["git", "reset", "-q"], cwd=root, check=True)


def timed(
    cmd: list[str], cwd: Path, env: dict[str, str], limit: float, expect: str | None = None
) -> float | None:
    """Wall seconds of a command, None when it ran past ``limit`` (then killed)."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return None
    elapsed = time.perf_counter() - start
    if proc.returncode != 0 or (expect is not None and expect not in proc.stdout):
        raise SystemExit(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}"
        )
    return elapsed


def scenario(
    tool: list[str], root: Path, count: int, env: dict[str, str], limit: float
) -> dict[str, float | None]:
    last = f"exp-{count - 1:05d}"
    show = [*tool, "exp", "show", "--no-pager"] if "dvc" in tool[-1] else [*tool, "exp", "show"]
    result: dict[str, float | None] = {"exp show, cold": timed(show, root, env, limit, expect=last)}
    if result["exp show, cold"] is None:
        result["exp show, warm"] = None
    else:
        runs = 3 if result["exp show, cold"] < 30 else 1  # one warm run of a slow tool is enough
        warm = sorted(t or limit for t in (timed(show, root, env, limit, expect=last) for _ in range(runs)))
        result["exp show, warm"] = warm[len(warm) // 2]
    result["exp remove -A"] = timed([*tool, "exp", "remove", "-A"], root, env, limit)
    if result["exp remove -A"] is not None:
        left = subprocess.run(
            ["git", "for-each-ref", "refs/exps"], cwd=root, capture_output=True, text=True
        ).stdout
        if left.strip():
            raise SystemExit(f"{tool[-1]} exp remove -A left refs:\n{left[:500]}")
    return result


def compare(
    count: int, dvc: Path | None, work: Path, limit: float = 600.0
) -> list[tuple[str, str, str, str]]:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{OUR_BIN}{os.pathsep}{os.environ['PATH']}"}
    nice = ["nice", "-n", "10"]
    start = time.perf_counter()
    build_repo(work / "ours", count)
    built = time.perf_counter() - start
    if dvc is not None:
        shutil.copytree(work / "ours", work / "dvc", symlinks=True)
    ours = scenario([*nice, str(OUR_BIN / "jupyter-exp")], work / "ours", count, env, limit)
    theirs = scenario([*nice, str(dvc)], work / "dvc", count, env, limit) if dvc else {}
    rows = [(f"build {count:,} experiment commits + refs (dulwich)", "-", f"{built:.2f} s", "-")]
    for step, mine in ours.items():
        t = theirs.get(step, None) if dvc else None
        t_text = "-" if not dvc else (f"> {limit:.0f} s" if t is None else f"{t:.2f} s")
        m_text = f"> {limit:.0f} s" if mine is None else f"{mine:.2f} s"
        ratio = "-" if t is None or mine is None else f"{t / mine:.1f}x"
        if dvc and t is None and mine is not None:
            ratio = f"> {limit / mine:.0f}x"
        rows.append((f"{step}, {count:,} experiments", t_text, m_text, ratio))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument(
        "--limit", type=float, default=600.0, help="seconds before a command counts as too slow"
    )
    parser.add_argument("--dvc", default=None, help="venv with DVC 3.67.1 (default: $JUPYTER_EXP_DVC_VENV)")
    parser.add_argument("--no-dvc", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from files_bench import dvc_bin

    dvc = None if args.no_dvc else dvc_bin(args.dvc)
    with tempfile.TemporaryDirectory(prefix="jx-exps-") as tmp:
        rows = compare(args.count, dvc, Path(tmp), args.limit)
    width = max(len(r[0]) for r in rows)
    print(f"{'scenario':<{width}}  {'DVC 3.67.1':>12}  {'jupyter-exp':>12}  {'ratio':>7}")
    for name, theirs, mine, ratio in rows:
        print(f"{name:<{width}}  {theirs:>12}  {mine:>12}  {ratio:>7}")


if __name__ == "__main__":
    main()
