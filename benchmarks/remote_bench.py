"""Data remotes with many small files, side by side with DVC 3.67.1 (dvc-s3) in the same run.

    python benchmarks/remote_bench.py --files 10000                  # both remotes, both tools
    python benchmarks/remote_bench.py --files 100000 --remotes local
    FILES=2000 python benchmarks/remote_bench.py --no-dvc            # quick, ours only

FILES files of 1 KB in ~FILES/100 folders of ``data/`` (``files_bench.py``'s data set), tracked with each
tool's own ``add data``. Then, per remote (a local folder; moto's S3 server on 127.0.0.1, started here as a
process of its own, credentials in the environment and ``endpointurl`` in ``.dvc/config`` as for DVC), timed:
``push`` to the empty remote, a no-op ``push`` (only "what is missing"), ``fetch`` into an empty cache and
``pull`` into an empty cache and workspace. Each tool pushes to a remote of its own and uses its default jobs.
Floors are printed too: FILES bare copies + renames on 8 threads (the disk's speed at creating files), and
FILES bare PUTs by boto3 on 8 threads (moto's own speed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from files_bench import OUR_BIN, build_dataset, dvc_bin, run  # noqa: E402

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
STEPS = ("push", "no-op push", "fetch (empty cache)", "pull (empty cache + workspace)")


class MotoServer:
    """moto's S3 server as a process of its own (so its request handling does not share our GIL)."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [str(OUR_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("moto_server did not start") from None
                time.sleep(0.1)

    def client(self) -> object:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def bucket(self) -> str:
        name = f"bench-{uuid.uuid4().hex[:10]}"
        self.client().create_bucket(Bucket=name)  # type: ignore[attr-defined]
        return name

    def bare_puts(self, files: int) -> float:
        """FILES 1 KB PUTs on 8 threads with one boto3 client: what the server itself allows."""
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1", config=Config(max_pool_connections=8)
        )
        bucket = self.bucket()
        body = os.urandom(1024)
        start = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: client.put_object(Bucket=bucket, Key=f"k/{i}", Body=body), range(files)))
        return time.perf_counter() - start

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def bare_copies(files: int, work: Path) -> float:
    """FILES 1 KB files copied to a temp name and renamed into 256 folders on 8 threads (what any local
    remote's push costs on this disk: each new file's creation dominates)."""
    source = work / "floor-source"
    build_dataset(source, files)
    sources = [p for p in source.rglob("*") if p.is_file()]
    target = work / "floor-target"
    for i in range(256):
        (target / f"{i:02x}").mkdir(parents=True)

    def copy(index_path: tuple[int, Path]) -> None:
        index, path = index_path
        final = target / f"{index % 256:02x}" / f"{index:08d}"
        tmp = final.with_name(f".{final.name}.tmp")
        shutil.copyfile(path, tmp)
        os.rename(tmp, final)

    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(copy, enumerate(sources)))
    elapsed = time.perf_counter() - start
    shutil.rmtree(source)
    shutil.rmtree(target)
    return elapsed


def scenario(
    tool: str, command: list[str], root: Path, files: int, url: str, endpoint: str | None, env: dict[str, str]
) -> dict[str, float]:
    """The timed steps for one tool and one remote in a fresh repository at ``root``."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    git = ["git", "-c", "user.email=b@example.com", "-c", "user.name=bench"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    run([*command, "init"], root, env)
    build_dataset(root, files)
    run([*command, "add", "data"], root, env)
    run([*command, "remote", "add", "-d", "store", url], root, env)
    if endpoint:
        run([*command, "remote", "modify", "store", "endpointurl", endpoint], root, env)
    data = [] if tool == "dvc" else ["data"]
    times: dict[str, float] = {}
    times["push"] = run([*command, *data, "push"], root, env)[0]
    times["no-op push"] = run([*command, *data, "push"], root, env)[0]
    cache = root / ".dvc" / "cache"
    shutil.rmtree(cache)
    times["fetch (empty cache)"] = run([*command, *data, "fetch"], root, env)[0]
    shutil.rmtree(cache)
    shutil.rmtree(root / "data")
    times["pull (empty cache + workspace)"] = run([*command, *data, "pull"], root, env)[0]
    if sum(len(names) for _, _, names in os.walk(root / "data")) != files:
        raise SystemExit(f"{tool} pull did not restore {files} files")
    return times


def compare(
    files: int, dvc: Path | None, work: Path, remotes: tuple[str, ...] = ("local", "s3")
) -> list[tuple[str, str, str, str]]:
    """Rows of (scenario, DVC's time, ours, ratio) for each remote kind."""
    os.environ.update(CREDENTIALS)  # for the boto3 client here too
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{OUR_BIN}{os.pathsep}{os.environ['PATH']}"}
    nice = ["nice", "-n", "10"]
    tools: list[tuple[str, list[str]]] = [("jupyter-exp", [*nice, str(OUR_BIN / "jupyter-exp")])]
    if dvc is not None:
        tools.append(("dvc", [*nice, str(dvc)]))
    rows: list[tuple[str, str, str, str]] = []
    server = MotoServer() if "s3" in remotes else None
    try:
        for kind in remotes:
            results: dict[str, dict[str, float]] = {}
            for tool, command in tools:
                if kind == "s3":
                    assert server is not None
                    url, endpoint = f"s3://{server.bucket()}/store", server.endpoint
                else:
                    url, endpoint = str(work / f"store-{tool}"), None
                results[tool] = scenario(tool, command, work / tool, files, url, endpoint, env)
                shutil.rmtree(work / tool, ignore_errors=True)
                shutil.rmtree(work / f"store-{tool}", ignore_errors=True)
            for step in STEPS:
                ours = results["jupyter-exp"][step]
                theirs = results.get("dvc", {}).get(step)
                rows.append(
                    (
                        f"{kind} remote: {step}, {files:,} files",
                        f"{theirs:.2f} s" if theirs is not None else "-",
                        f"{ours:.2f} s",
                        f"{theirs / ours:.1f}x" if theirs is not None else "-",
                    )
                )
        if "local" in remotes:
            rows.append((f"local floor: {files:,} bare copy + rename, 8 threads", "-", f"{bare_copies(files, work):.2f} s", "-"))
        if server is not None:
            rows.append((f"s3 floor: {files:,} bare boto3 PUTs, 8 threads", "-", f"{server.bare_puts(files):.2f} s", "-"))
    finally:
        if server is not None:
            server.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=int(os.environ.get("FILES", 100_000)))
    parser.add_argument("--remotes", default="local,s3", help="comma list of: local, s3")
    parser.add_argument("--dvc", default=None, help="venv with DVC 3.67.1 and dvc-s3 (default: $JUPYTER_EXP_DVC_VENV)")
    parser.add_argument("--no-dvc", action="store_true", help="time jupyter-exp only")
    args = parser.parse_args()
    dvc = None if args.no_dvc else dvc_bin(args.dvc)
    with tempfile.TemporaryDirectory(prefix="jx-remote-") as tmp:
        rows = compare(args.files, dvc, Path(tmp), tuple(args.remotes.split(",")))
    width = max(len(r[0]) for r in rows)
    print(f"{'scenario':<{width}}  {'DVC 3.67.1':>12}  {'jupyter-exp':>12}  {'ratio':>7}")
    for name, theirs, mine, ratio in rows:
        print(f"{name:<{width}}  {theirs:>12}  {mine:>12}  {ratio:>7}")


if __name__ == "__main__":
    main()
