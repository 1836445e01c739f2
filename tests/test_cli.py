"""The ``jupyter-exp`` command: bad inputs are one-line errors naming the culprit, and Ctrl-C is safe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

JUPYTER_EXP = str(Path(sys.executable).parent / "jupyter-exp")

GOOD = "stages:\n  a:\n    cmd: echo a > a.txt\n    outs: [a.txt]\n"


def jx(cwd: Path, *words: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it."""
    return subprocess.run([JUPYTER_EXP, *words], cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    ("files", "words", "message"),
    [
        ({"dvc.yaml": "stages:\n  a: [\n"}, ("repro",), "'dvc.yaml'"),
        ({"dvc.yaml": "stages:\n  a:\n    outs: [x]\n"}, ("status",), "'stages.a.cmd'"),
        ({"dvc.yaml": "stages:\n  a:\n    cmd: echo\n    frozen: maybe\n"}, ("repro",), "'stages.a.frozen'"),
        ({"dvc.yaml": "stages:\n  a:\n    cmd: echo ${nope}\n"}, ("repro",), "nope"),
        ({"dvc.yaml": "stages:\n  a:\n    cmd: echo\n    deps: [in.txt]\n    outs: [x]\n"}, ("repro",),
         "dependency 'in.txt' of stage 'a' does not exist"),
        ({"dvc.yaml": "stages:\n  a:\n    cmd: echo > x\n    params: [lr]\n    outs: [x]\n"}, ("repro",),
         "params file 'params.yaml' of stage 'a' does not exist"),
        ({"dvc.yaml": "stages:\n  a:\n    cmd: echo > x\n    params: [lr]\n    outs: [x]\n", "params.yaml": "b: 1\n"},
         ("repro",), "parameter 'lr' of stage 'a' is missing from 'params.yaml'"),
        ({"dvc.yaml": "stages:\n  a:\n    cmd: echo > x\n    params: [lr]\n    outs: [x]\n", "params.yaml": "lr: [\n"},
         ("status",), "'params.yaml'"),
        ({"dvc.yaml": GOOD, "dvc.lock": "schema: '2.0'\nstages: [\n"}, ("status",), "'dvc.lock' is not valid YAML"),
        ({"dvc.yaml": GOOD, "dvc.lock": "stages: {}\n"}, ("status",), "'dvc.lock' has no 'schema'"),
        ({"dvc.yaml": GOOD, "dvc.lock": "schema: '2.0'\nstages:\n  a:\n    cmd: echo a > a.txt\n    outs:\n"
          "    - path: a.txt\n      md5: zzz\n"}, ("checkout",), "'dvc.lock' stage 'a': 'a.txt': 'md5' must be"),
        ({"x.csv.dvc": "outs: {}\n"}, ("status",), "'x.csv.dvc': 'outs' must be a non-empty list"),
        ({"dvc.yaml": GOOD}, ("repro", "b"), "'b' does not name a stage in 'dvc.yaml'"),
        ({"dvc.yaml": GOOD}, ("repro", "sub/dvc.yaml:a"), "'sub/dvc.yaml:a' does not name a stage"),
        ({"dvc.yaml": "stages:\n  a:\n    cmd: 'true'\n    outs: [a.txt]\n"}, ("repro",),
         "output 'a.txt' of stage 'a' was not created by its command"),
    ],
    ids=[
        "yaml-syntax", "no-cmd", "bad-flag", "undefined-var", "missing-dep", "missing-params-file",
        "missing-param", "bad-params-yaml", "bad-lock-yaml", "lock-without-schema", "bad-lock-md5",
        "bad-dvc-file", "unknown-stage", "unknown-file", "output-not-created",
    ],
)  # fmt: skip
def test_bad_input_names_the_file_stage_or_key(
    git_repo: Path, run_cli, files: dict[str, str], words: tuple[str, ...], message: str
) -> None:
    for name, text in files.items():
        (git_repo / name).write_text(text)
    result = run_cli(*words)
    assert result.code != 0
    assert result.err.startswith("ERROR: ")
    assert message in result.err
    assert "Traceback" not in result.err and str(git_repo) not in result.err


def test_outside_a_repository(tmp_path: Path) -> None:
    done = jx(tmp_path, "status")
    assert done.returncode == 1
    assert "is not inside a Git repository" in done.stderr and "Traceback" not in done.stderr
    (tmp_path / ".git").mkdir()
    done = jx(tmp_path, "repro")
    assert done.returncode == 1 and "has no '.dvc/' directory: run `jupyter exp init`" in done.stderr


def test_usage_errors_exit_2(git_repo: Path) -> None:
    done = jx(git_repo, "repro", "--no-such-flag")
    assert done.returncode == 2 and "--no-such-flag" in done.stderr and "Traceback" not in done.stderr
    done = jx(git_repo, "frobnicate")
    assert done.returncode == 2 and "frobnicate" in done.stderr


def test_help_is_printed_once_and_names_every_command(tmp_path: Path) -> None:
    done = jx(tmp_path, "--help")
    assert done.returncode == 0 and done.stdout.count("usage:") == 1
    for command in ("repro", "status", "run", "show", "diff", "apply", "metrics", "plots", "stage", "data"):
        assert f"    {command} " in done.stdout
    done = jx(tmp_path, "exp", "run", "--help")  # `jupyter-exp exp run` is `jupyter exp run`, as `dvc exp run`
    assert done.returncode == 0 and done.stdout.startswith("usage: jupyter exp run") and "--set-param" in done.stdout


def test_init_then_repro_and_status_end_to_end(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    init = jx(tmp_path, "init")
    assert init.returncode == 0 and (tmp_path / ".dvc" / "config").exists()
    assert (tmp_path / ".dvc" / ".gitignore").read_text().splitlines() == ["/config.local", "/tmp", "/cache"]
    (tmp_path / "dvc.yaml").write_text("stages:\n  hello:\n    cmd: echo streamed output && echo hi > h.txt\n"
                                       "    outs: [h.txt]\n")
    done = jx(tmp_path, "repro")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:3] == ["Running stage 'hello':", "> echo streamed output && echo hi > h.txt", "streamed output"]
    assert jx(tmp_path, "status").stdout.strip() == "Data and pipelines are up to date."
    assert json.loads(jx(tmp_path, "status", "--json").stdout) == {}


def test_failing_stage_exit_status_through_the_console_script(git_repo: Path) -> None:
    (git_repo / "dvc.yaml").write_text(GOOD + "  b:\n    cmd: echo failing >&2; exit 7\n    deps: [a.txt]\n")
    done = jx(git_repo, "repro")
    assert done.returncode == 1
    assert "failing" in done.stderr
    assert "ERROR: failed to reproduce 'b': command 'echo failing >&2; exit 7' exited with status 7" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(yaml.safe_load((git_repo / "dvc.lock").read_text())["stages"]) == ["a"]


SLOW = """\
stages:
  first:
    cmd: mkdir -p d && echo 1 > d/one.txt && echo 2 > d/two.txt
    outs: [d]
  slow:
    cmd: echo started > started.txt && echo partial > slow.txt && sleep 30 && echo done > slow.txt
    deps: [d]
    outs: [slow.txt]
"""


@pytest.mark.parametrize("to_group", [True, False], ids=["terminal-ctrl-c", "sigint-to-jupyter-exp-only"])
def test_ctrl_c_leaves_lock_and_cache_consistent(git_repo: Path, to_group: bool) -> None:
    (git_repo / "dvc.yaml").write_text(SLOW)
    proc = subprocess.Popen(
        [JUPYTER_EXP, "repro"], cwd=git_repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group, as a shell job is
    )
    deadline = time.monotonic() + 30
    while not (git_repo / "started.txt").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    if to_group:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    else:
        os.kill(proc.pid, signal.SIGINT)  # a Jupyter kernel interrupt may reach only us
    out, err = proc.communicate(timeout=20)  # the stage sleeps 30 s: it was stopped, not waited out
    assert proc.returncode == 130
    assert "Interrupted" in err and "Traceback" not in err
    stages = yaml.safe_load((git_repo / "dvc.lock").read_text())["stages"]
    assert list(stages) == ["first"]
    cache = git_repo / ".dvc" / "cache" / "files" / "md5"
    (out_entry,) = stages["first"]["outs"]
    manifest = cache / out_entry["md5"][:2] / out_entry["md5"][2:]
    for entry in json.loads(manifest.read_text()):
        assert (cache / entry["md5"][:2] / entry["md5"][2:]).is_file()
    assert (git_repo / "slow.txt").read_text() == "partial\n"  # the command is gone: nothing rewrote it
    status = json.loads(jx(git_repo, "status", "--json").stdout)
    assert status == {"slow": [{"changed deps": {"d": "modified"}}, {"changed outs": {"slow.txt": "modified"}}]}
    time.sleep(0.2)
    assert (git_repo / "slow.txt").read_text() == "partial\n"
