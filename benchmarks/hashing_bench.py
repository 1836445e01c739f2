"""Hashing throughput: raw md5 on one core vs our first-time hash vs our no-op re-hash.

    python benchmarks/hashing_bench.py                        # 5,000 files / 500 MB
    python benchmarks/hashing_bench.py --files 1000 --mb 100  # quicker
    python benchmarks/hashing_bench.py --dvc /tmp/ref         # also time the real DVC

Files are written just before hashing, so reads come from the page cache: the figures compare
CPU work (the part we control), not disk speed.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jupyter_exp.data.hashing import Hasher  # noqa: E402
from jupyter_exp.data.state import STATE_FILE  # noqa: E402


def build_dataset(root: Path, files: int, total_bytes: int) -> int:
    """``files`` files of mixed sizes (a few large, many small) adding up to ``total_bytes``."""
    block = os.urandom(1 << 20)
    # Sizes follow 1:4:16 weights in thirds so there are small, medium and large files.
    weights = [1 << (2 * (i * 3 // files)) for i in range(files)]
    scale = total_bytes / sum(weights)
    written = 0
    for i, weight in enumerate(weights):
        size = max(1, int(weight * scale))
        path = root / "data" / f"shard{i % 16:02}" / f"file{i:05}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        header = f"{i}\n".encode()
        body = (block * (size // len(block) + 1))[: size - len(header)] if size > len(header) else b""
        path.write_bytes(header + body)
        written += len(header) + len(body)
    return written


def raw_md5_throughput(seconds: float = 1.0) -> float:
    """Bytes per second hashlib.md5 reaches on one core over an in-memory buffer."""
    buf = os.urandom(8 << 20)
    hasher = hashlib.md5(usedforsecurity=False)
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        hasher.update(buf)
        done += len(buf)
    return done / (time.perf_counter() - start)


def _md5_file(path: str) -> int:
    hasher = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fobj:
        while chunk := fobj.read(4 << 20):
            hasher.update(chunk)
    return os.path.getsize(path)


def bare_multiprocess_md5(root: Path, jobs: int) -> float:
    """Seconds a bare ``jobs``-process md5 loop takes over the same files (the hardware's ceiling here)."""
    from concurrent.futures import ProcessPoolExecutor

    paths = sorted(str(p) for p in root.rglob("*.bin"))
    paths.sort(key=os.path.getsize, reverse=True)  # big files first, as a scheduler would
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(_md5_file, paths[:jobs]))  # workers started before the clock
        start = time.perf_counter()
        list(pool.map(_md5_file, paths, chunksize=max(1, len(paths) // (jobs * 64))))
        return time.perf_counter() - start


def timed(func, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = func(*args)
    return time.perf_counter() - start, result


def time_dvc(venv: Path, root: Path) -> tuple[float, float]:
    """Wall time of ``dvc add --no-commit`` (hash only) the first time and again unchanged."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    dvc = str(venv / "bin" / "dvc")
    subprocess.run([dvc, "init", "--no-scm", "-q", "-f"], cwd=root, env=env, check=True)
    times = []
    for _ in range(2):
        start = time.perf_counter()
        subprocess.run([dvc, "add", "--no-commit", "-q", "data"], cwd=root, env=env, check=True)
        times.append(time.perf_counter() - start)
    return times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--mb", type=float, default=500.0, help="total size in MB (10**6 bytes)")
    parser.add_argument("--jobs", type=int, default=None, help="hashing threads (default: all cores)")
    parser.add_argument("--dvc", type=Path, default=None, help="a venv with DVC 3 to compare against")
    parser.add_argument("--rounds", type=int, default=3, help="bare-loop/ours pairs, for a range")
    parser.add_argument("--keep", action="store_true", help="keep the temp dataset")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="jupyter-exp-bench-"))
    try:
        print(f"building {args.files} files / {args.mb:g} MB under {root} ...", flush=True)
        total = build_dataset(root, args.files, int(args.mb * 1e6))
        (root / ".dvc").mkdir()
        mb = total / 1e6

        raw = raw_md5_throughput()
        print(f"cores                         {os.cpu_count()}")
        print(
            f"raw md5, one core             {raw / 1e6:8.1f} MB/s  (ideal for {mb:.0f} MB: {total / raw:.3f} s)"
        )

        jobs = args.jobs or os.cpu_count() or 1
        rounds: list[tuple[float, float]] = []
        for _ in range(args.rounds):  # alternate, so both see the same machine load
            bare = bare_multiprocess_md5(root / "data", jobs)
            (root / ".dvc" / "tmp" / STATE_FILE).unlink(missing_ok=True)
            with Hasher(root, jobs=args.jobs) as hasher:
                first, info = timed(hasher.hash, "data")
            rounds.append((bare, first))
            print(
                f"bare {jobs}-process md5 loop     {mb / bare:8.1f} MB/s  {bare:.3f} s   "
                f"ours, first hash {mb / first:8.1f} MB/s  {first:.3f} s  = {bare / first:.0%} of the bare loop"
            )
        shares = sorted(bare / ours for bare, ours in rounds)
        first = min(ours for _, ours in rounds)
        print(
            f"ours, first hash              {mb / first:8.1f} MB/s  {first:.3f} s  "
            f"= {total / first / raw:.2f}x one-core md5   ({info.md5}, {info.nfiles} files); "
            f"{shares[0]:.0%}-{shares[-1]:.0%} of a bare {jobs}-process md5 loop (goal >= 90%)"
        )
        with Hasher(root, jobs=args.jobs) as hasher:
            noop, again = timed(hasher.hash, "data")
            assert again == info and hasher.stats.files_read == 0
        print(
            f"ours, no-op re-hash (new proc) {noop * 1e3:7.1f} ms  = {first / noop:.0f}x faster than first hash"
        )

        (root / ".dvc" / "tmp" / STATE_FILE).unlink()
        with Hasher(root, jobs=1) as hasher:
            single, _ = timed(hasher.hash, "data")
        print(f"ours, first hash on 1 thread  {mb / single:8.1f} MB/s  {single:.3f} s")

        if args.dvc is not None:
            shutil.rmtree(root / ".dvc")
            dvc_first, dvc_noop = time_dvc(args.dvc, root)
            print(
                f"dvc add --no-commit, first    {mb / dvc_first:8.1f} MB/s  {dvc_first:.3f} s  "
                f"(ours {dvc_first / first:.1f}x faster)"
            )
            print(
                f"dvc add --no-commit, no-op    {dvc_noop * 1e3:7.1f} ms  (ours {dvc_noop / noop:.0f}x faster)"
            )
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
