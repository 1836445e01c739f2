"""Directories of many small files, side by side with DVC 3.67.1 in the same run.

    python benchmarks/files_bench.py --files 100000          # quick: 100k files of 1 KB
    python benchmarks/files_bench.py --files 1000000 --dvc /path/to/dvc-venv

FILES files of 1 KB spread over ~1,000 subfolders of ``data/``, tracked with ``add data`` (a ``data.dvc``
file). Each tool gets its own copy of the same bytes and runs, one after the other: ``add``, no-op
``status``, ``status`` after changing one file, after also adding one and after also deleting one
(each must report ``data`` as changed; ours also through ``jupyter exp daemon``, whose inotify
watcher spares listing unchanged folders), ``add`` again (the new version), ``gc -w`` (drops the old
version's objects) and ``checkout`` into an empty workspace (``data/`` removed). Wall time and the
peak RSS of each command are printed, with DVC's and the ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUR_BIN = Path(sys.executable).parent
FILE_SIZE = 1024

Timing = tuple[float, int]  # (seconds, peak RSS in bytes)


def folders_for(files: int) -> int:
    return max(1, min(1000, files // 100))


def file_path(root: Path, i: int, folders: int) -> Path:
    return root / "data" / f"d{i % folders:04d}" / f"f{i:07d}.bin"


def build_dataset(root: Path, files: int) -> None:
    """FILES distinct 1 KB files (the index in each makes every one unique)."""
    folders = folders_for(files)
    for d in range(folders):
        (root / "data" / f"d{d:04d}").mkdir(parents=True, exist_ok=True)
    block = os.urandom(FILE_SIZE)
    for i in range(files):
        head = f"{i}\n".encode()
        with open(file_path(root, i, folders), "wb") as fobj:
            fobj.write(head + block[len(head) :])


def run(cmd: list[str], cwd: Path, env: dict[str, str], expect: str | None = None) -> Timing:
    """Wall time and peak RSS of one command; fails loudly if it fails or lacks ``expect`` in its output."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    words = " ".join(Path(word).name for word in cmd[cmd.index("nice") + 3 if "nice" in cmd else 0 :])
    print(f"  {words}: {elapsed:.2f} s, {usage.ru_maxrss / 1024:.0f} MB", file=sys.stderr, flush=True)
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = out.decode(errors="replace")
    if proc.returncode != 0 or (expect is not None and expect not in text):
        raise SystemExit(
            f"{' '.join(cmd)} failed (exit {proc.returncode}, wanted {expect!r}):\n{text[-2000:]}"
        )
    return elapsed, usage.ru_maxrss * 1024


def scenario(tool: list[str], root: Path, files: int, env: dict[str, str]) -> dict[str, Timing]:
    """The timed steps for one tool in a fresh repository at ``root``."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    git = ["git", "-c", "user.email=b@example.com", "-c", "user.name=bench"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    run([*tool, "init"], root, env)
    build_dataset(root, files)
    folders = folders_for(files)
    result: dict[str, Timing] = {}
    result["add"] = run([*tool, "add", "data"], root, env)
    subprocess.run([*git, "add", "data.dvc", ".gitignore"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "data"], cwd=root, check=True)
    noop = sorted(run([*tool, "status"], root, env) for _ in range(3))
    result["no-op status"] = noop[1]
    # Ours also through `jupyter exp daemon` (its inotify watcher), each status before the fresh one.
    daemon = {**env, "XDG_RUNTIME_DIR": str(root.parent / f"run-{root.name}")} if Path(tool[-1]).name == "jupyter-exp" else None
    if daemon is not None:
        Path(daemon["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)
        run([*tool, "daemon", "start"], root, daemon)
        for _ in range(3):  # listed before the watch began, under it, then from the watcher's summary
            run([*tool, "status"], root, daemon)
        result["no-op status (daemon)"] = sorted(run([*tool, "status"], root, daemon) for _ in range(3))[1]

    def status(step: str) -> None:
        if daemon is not None:
            result[f"{step} (daemon)"] = run([*tool, "status"], root, daemon, expect="modified")
        result[step] = run([*tool, "status"], root, env, expect="modified")

    file_path(root, files // 2, folders).write_bytes(b"changed\n")
    status("status, 1 changed")
    file_path(root, files, folders).write_bytes(b"added\n")
    status("status, +1 added")
    file_path(root, 0, folders).unlink()
    status("status, +1 deleted")
    if daemon is not None:
        run([*tool, "daemon", "stop"], root, daemon)
    result["add after 3 changes"] = run([*tool, "add", "data"], root, env)
    subprocess.run([*git, "commit", "-qam", "data v2"], cwd=root, check=True)
    gc = [*tool, "exp", "gc", "-w", "-f"] if Path(tool[-1]).name == "jupyter-exp" else [*tool, "gc", "-w", "-f"]
    result["gc -w"] = run(gc, root, env)
    shutil.rmtree(root / "data")
    result["checkout (empty workspace)"] = run([*tool, "checkout"], root, env)
    if sum(len(names) for _, _, names in os.walk(root / "data")) != files:
        raise SystemExit(f"{tool[-1]} checkout did not restore {files} files")
    return result


def dvc_bin(venv: str | None) -> Path | None:
    for candidate in (venv, os.environ.get("JUPYTER_EXP_DVC_VENV"), str(HERE / ".ref-venv")):
        if candidate and (Path(candidate) / "bin" / "dvc").exists():
            return Path(candidate) / "bin" / "dvc"
    return None


def compare(files: int, dvc: Path | None, work: Path) -> list[tuple[str, str, str, str]]:
    """Rows of (scenario, DVC's figure, ours, ratio) with peak RSS beside each time."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{OUR_BIN}{os.pathsep}{os.environ['PATH']}"}
    nice = ["nice", "-n", "10"]
    ours = scenario([*nice, str(OUR_BIN / "jupyter-exp")], work / "ours", files, env)
    shutil.rmtree(work / "ours", ignore_errors=True)
    theirs = scenario([*nice, str(dvc)], work / "dvc", files, env) if dvc else {}
    shutil.rmtree(work / "dvc", ignore_errors=True)
    rows = []
    for step, (secs, rss) in ours.items():
        label = f"{step}, {files:,} files"
        # Through the daemon, the RSS measured is the thin client's, not the forked command's: left out.
        mine = f"{secs:.2f} s" if step.endswith("(daemon)") else f"{secs:.2f} s {rss / 2**20:.0f} MB"
        twin = step.removesuffix(" (daemon)")  # DVC has no daemon: its figure for the same step
        if twin in theirs:
            t_secs, t_rss = theirs[twin]
            rows.append((label, f"{t_secs:.2f} s {t_rss / 2**20:.0f} MB", mine, f"{t_secs / secs:.1f}x"))
        else:
            rows.append((label, "-", mine, "-"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--dvc", default=None, help="venv with DVC 3.67.1 (default: $JUPYTER_EXP_DVC_VENV)")
    parser.add_argument("--no-dvc", action="store_true", help="time jupyter-exp only")
    args = parser.parse_args()
    dvc = None if args.no_dvc else dvc_bin(args.dvc)
    with tempfile.TemporaryDirectory(prefix="jx-files-") as tmp:
        rows = compare(args.files, dvc, Path(tmp))
    width = max(len(r[0]) for r in rows)
    print(f"{'scenario':<{width}}  {'DVC 3.67.1':>16}  {'jupyter-exp':>16}  {'ratio':>7}")
    for name, theirs, mine, ratio in rows:
        print(f"{name:<{width}}  {theirs:>16}  {mine:>16}  {ratio:>7}")


if __name__ == "__main__":
    main()
