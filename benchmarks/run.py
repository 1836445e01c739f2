"""Side-by-side benchmarks against DVC 3.67.1 / DVCLive 3.49.1, measured in the same run.

    python benchmarks/run.py [--quick] [--only sweep,status,live,files,exps,remote] [--files N]

The reference tools live in their own venv: $JUPYTER_EXP_DVC_VENV, /tmp/ref, or benchmarks/.ref-venv
(created on first use with `pip install dvc==3.67.1 dvclive==3.49.1 dvc-s3==3.3.0`). Timed scenarios are the shared
scripts in ../shared/bench, run once per tool, so both tools see the same machine at the same moment.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = Path(os.environ.get("JUPYTER_EXP_SHARED", ROOT.parent / "shared")) / "bench"
OUR_BIN = Path(sys.executable).parent


def reference_venv() -> Path:
    """The venv holding DVC/DVCLive; created under benchmarks/ when none is found."""
    for candidate in (os.environ.get("JUPYTER_EXP_DVC_VENV"), "/tmp/ref", str(HERE / ".ref-venv")):
        if candidate and (Path(candidate) / "bin" / "dvc").exists():
            return Path(candidate)
    venv = HERE / ".ref-venv"
    print(f"installing DVC 3.67.1 and DVCLive 3.49.1 into {venv} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "dvc==3.67.1", "dvclive==3.49.1", "dvc-s3==3.3.0"], check=True
    )
    return venv


def _env(bin_dir: Path) -> dict[str, str]:
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def _fields(line: str) -> dict[str, str]:
    return dict(re.findall(r"(\w+)=(\S+)", line))


def _run_script(script: str, tool: str, bin_dir: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, str]:
    out = subprocess.run(
        ["bash", str(SHARED / script), tool, *args], env=env or _env(bin_dir), capture_output=True, text=True,
        check=True,
    ).stdout
    return _fields(out.strip().splitlines()[-1])


def _ratio(theirs: float, ours: float) -> str:
    return f"{theirs / ours:.1f}x" if ours > 0 else "inf"


def bench_sweep(ref: Path, n: int, work: Path) -> list[tuple[str, str, str, str]]:
    """Per-experiment overhead (wall time minus the user's own scripts) and `exp show` time, ours from a
    fresh process each command and again with `jupyter exp daemon start` (the commands forked from it)."""
    ours = _run_script("exp_sweep.sh", "jupyter-exp", OUR_BIN, str(n), str(work / "sweep-ours"))
    dvc = _run_script("exp_sweep.sh", "dvc", ref / "bin", str(n), str(work / "sweep-dvc"))
    runtime = work / "daemon-runtime"  # its own socket folder: never a daemon the user left running
    runtime.mkdir(mode=0o700)
    env = {**_env(OUR_BIN), "XDG_RUNTIME_DIR": str(runtime)}
    subprocess.run([str(OUR_BIN / "jupyter-exp"), "daemon", "start"], env=env, check=True, capture_output=True)
    try:
        warm = _run_script("exp_sweep.sh", "jupyter-exp", OUR_BIN, str(n), str(work / "sweep-daemon"), env=env)
    finally:
        subprocess.run([str(OUR_BIN / "jupyter-exp"), "daemon", "stop"], env=env, capture_output=True)
    over_dvc = float(dvc["per_exp_median_s"]) - float(dvc["bare_scripts_s"])
    rows = []
    for label, result in (("", ours), (", daemon", warm)):
        over = float(result["per_exp_median_s"]) - float(result["bare_scripts_s"])
        show = float(result["exp_show_s"])
        rows += [
            (f"exp run overhead per experiment (N={n}{label})", f"{over_dvc:.3f} s", f"{over:.3f} s", _ratio(over_dvc, over)),
            (f"exp show at {n} experiments{label}", f"{float(dvc['exp_show_s']):.3f} s", f"{show:.3f} s",
             _ratio(float(dvc["exp_show_s"]), show)),
        ]
    return rows


def bench_status(ref: Path, files: int, mb: int, work: Path) -> list[tuple[str, str, str, str]]:
    ours = _run_script("status_bench.sh", "jupyter-exp", OUR_BIN, str(work / "status-ours"), str(files), str(mb))
    dvc = _run_script("status_bench.sh", "dvc", ref / "bin", str(work / "status-dvc"), str(files), str(mb))
    rows = []
    for key, label in (("first_repro_s", "first repro (hash + cache)"), ("noop_status_median_s", "no-op status")):
        rows.append((f"{label}, {files} files / {mb} MB", f"{float(dvc[key]):.3f} s", f"{float(ours[key]):.3f} s",
                     _ratio(float(dvc[key]), float(ours[key]))))
    return rows


def bench_live(ref: Path, steps: int) -> list[tuple[str, str, str, str]]:
    theirs = subprocess.run([str(ref / "bin" / "python"), str(SHARED / "dvclive_steps.py"), str(steps)],
                            capture_output=True, text=True, check=True).stdout
    ours = subprocess.run([sys.executable, str(HERE / "live_steps.py"), str(steps)],
                          capture_output=True, text=True, check=True).stdout
    t, o = float(_fields(theirs)["us_per_step"]), float(_fields(ours)["us_per_step"])
    return [(f"live logger, 3 metrics per step, {steps} steps", f"{t:.1f} us", f"{o:.1f} us", _ratio(t, o))]


def bench_files(ref: Path, files: int, work: Path) -> list[tuple[str, str, str, str]]:
    """Directories of many 1 KB files (``files_bench.py``): time and peak RSS per command, both tools."""
    sys.path.insert(0, str(HERE))
    from files_bench import compare

    return compare(files, ref / "bin" / "dvc", work)


def bench_exps(ref: Path, count: int, work: Path) -> list[tuple[str, str, str, str]]:
    """``exp show`` cold/warm and ``exp remove -A`` over COUNT experiments of one baseline (``exps_bench.py``)."""
    sys.path.insert(0, str(HERE))
    from exps_bench import compare

    return compare(count, ref / "bin" / "dvc", work)


def bench_remote(ref: Path, files: int, work: Path) -> list[tuple[str, str, str, str]]:
    """``data push``/``fetch``/``pull`` of FILES small files to a local folder and to moto's S3
    (``remote_bench.py``), beside ``dvc push``/``fetch``/``pull`` (dvc-s3)."""
    sys.path.insert(0, str(HERE))
    from remote_bench import compare

    return compare(files, ref / "bin" / "dvc", work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a minute or two)")
    parser.add_argument(
        "--only",
        default="sweep,status,live,files,exps,remote",
        help="comma list of: sweep, status, live, files, exps, remote",
    )
    parser.add_argument(
        "--files", type=int, default=None, help="files for the 'files' and 'remote' scenarios (default 100,000)"
    )
    opts = parser.parse_args()
    ref = reference_venv()
    # Both tools start from bytecode (DVC's venv has it from pip); ours is compiled here.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "jupyter_exp")], check=True)
    only = set(opts.only.split(","))
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="jx-bench-") as tmp:
        work = Path(tmp)
        if "sweep" in only:
            rows += bench_sweep(ref, 5 if opts.quick else 20, work)
        if "status" in only:
            rows += bench_status(ref, 1000 if opts.quick else 5000, 100 if opts.quick else 500, work)
        if "live" in only:
            rows += bench_live(ref, 2000)
        if "files" in only:
            rows += bench_files(ref, opts.files or (10_000 if opts.quick else 100_000), work)
        if "exps" in only:
            rows += bench_exps(ref, 1_000 if opts.quick else 10_000, work)
        if "remote" in only:
            rows += bench_remote(ref, opts.files or (2_000 if opts.quick else 100_000), work)
    width = max(len(r[0]) for r in rows)
    print(f"\n{'scenario':<{width}}  {'DVC 3.67.1':>12}  {'jupyter-exp':>12}  {'ratio':>7}")
    for name, theirs, ours, ratio in rows:
        print(f"{name:<{width}}  {theirs:>12}  {ours:>12}  {ratio:>7}")


if __name__ == "__main__":
    main()
