"""``jupyter exp daemon``: commands forked from a warm process behave as commands run afresh.

Every test starts its own daemon, in a socket folder of its own, through the installed console script.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import commit_files

JUPYTER_EXP = str(Path(sys.executable).parent / "jupyter-exp")
PIPELINE = {
    "params.yaml": "lr: 0.1\n",
    "dvc.yaml": (
        "stages:\n"
        "  train:\n"
        "    cmd: echo \"$JX_PROBE $(pwd) $(umask)\" > probe.txt && python -c \"print('trained')\"\n"
        "    params: [lr]\n"
        "    outs: [probe.txt]\n"
    ),
}


def jx(cwd: Path, env: dict[str, str], *words: str, **options: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [JUPYTER_EXP, *words], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, **options
    )


def served(cwd: Path, env: dict[str, str]) -> int:
    """How many commands the daemon forked so far (from ``daemon status``)."""
    out = jx(cwd, env, "daemon", "status").stdout
    assert "runs (pid" in out, out
    return int(out.split(", ")[1].split()[0])


@pytest.fixture
def daemon_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a user whose daemon runs (started here, stopped after the test)."""
    runtime = Path(tempfile.mkdtemp(prefix="jx-daemon-"))  # short: a socket's path has at most 107 bytes
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    yield env
    jx(tmp_path, env, "daemon", "stop")
    shutil.rmtree(runtime)


def start(cwd: Path, env: dict[str, str]) -> None:
    done = jx(cwd, env, "daemon", "start", "--idle", "5")
    assert done.returncode == 0 and "daemon started (pid" in done.stdout, done.stdout + done.stderr


def test_commands_forked_from_the_daemon_match_fresh_ones(git_repo: Path, daemon_env: dict[str, str]) -> None:
    commit_files(git_repo, PIPELINE, "pipeline")
    fresh_env = {**daemon_env, "XDG_RUNTIME_DIR": str(git_repo.parent / "no-daemon")}
    commands = [
        ("status",),
        ("repro",),
        ("status",),
        ("exp", "run", "-S", "lr=0.2"),
        ("params", "diff", "--all"),
        ("repro", "no-such-stage"),  # an error: its message and exit status
        ("exp", "run", "-S", "lr=0.2; touch pwned"),  # data, never shell
        ("stage", "add", "--bad-flag"),  # a usage error: exit 2
    ]
    twin = git_repo.parent / "twin"  # the same repository, for the commands run afresh
    shutil.copytree(git_repo, twin, symlinks=True)
    start(git_repo, daemon_env)
    fresh_env["JX_PROBE"], daemon_env["JX_PROBE"] = "fresh", "forked"
    fresh = [jx(twin, fresh_env, *words, umask=0o027) for words in commands]
    forked = [jx(git_repo, daemon_env, *words, umask=0o027) for words in commands]
    assert served(git_repo, daemon_env) == len(commands)
    for ours, theirs, words in zip(forked, fresh, commands, strict=True):
        assert (ours.returncode, _named(ours.stdout), ours.stderr) == (
            theirs.returncode, _named(theirs.stdout), theirs.stderr,
        ), words
    codes = [r.returncode for r in forked]
    assert codes[:5] == [0, 0, 0, 0, 0] and codes[5] != 0 and codes[7] == 2
    assert "trained" in forked[1].stdout
    assert not (git_repo / "pwned").exists()
    # the client's environment, working folder and umask, not the daemon's
    assert (git_repo / "probe.txt").read_text() == f"forked {git_repo} 0027\n"
    assert (twin / "probe.txt").read_text() == f"fresh {twin} 0027\n"


def _named(text: str) -> str:
    """Output with experiment names (made from a commit's hash, so from its time) made alike."""
    return re.sub(r"exp-[0-9a-f]{5}", "exp-NAME", text)


def _interruptible_stage(root: Path) -> None:
    script = (
        "import os, time\n"
        "open('started', 'w').write(str(os.getpid()))\n"
        "time.sleep(60)\n"
        "open('out.txt', 'w').write('late')\n"
    )
    commit_files(
        root,
        {"slow.py": script, "dvc.yaml": "stages:\n  slow:\n    cmd: python slow.py\n    outs: [out.txt]\n"},
        "slow stage",
    )


def _wait_for(path: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _ended(pid: int, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_ctrl_c_reaches_the_forked_command(git_repo: Path, daemon_env: dict[str, str]) -> None:
    _interruptible_stage(git_repo)
    start(git_repo, daemon_env)
    client = subprocess.Popen(
        [JUPYTER_EXP, "repro"], cwd=git_repo, env=daemon_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_for(git_repo / "started")
    client.send_signal(signal.SIGINT)
    out, err = client.communicate(timeout=30)
    assert client.returncode == 130, out + err
    assert "Interrupted" in err
    assert _ended(int((git_repo / "started").read_text()))
    assert not (git_repo / "out.txt").exists()
    assert served(git_repo, daemon_env) == 1


def test_a_killed_client_stops_its_command_and_leaves_the_repo_usable(
    git_repo: Path, daemon_env: dict[str, str]
) -> None:
    _interruptible_stage(git_repo)
    start(git_repo, daemon_env)
    client = subprocess.Popen(
        [JUPYTER_EXP, "repro"], cwd=git_repo, env=daemon_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _wait_for(git_repo / "started")
    client.kill()
    client.wait()
    assert _ended(int((git_repo / "started").read_text()))
    deadline = time.monotonic() + 20
    while (status := jx(git_repo, daemon_env, "status")).returncode != 0 and time.monotonic() < deadline:
        time.sleep(0.2)  # the interrupted command releases the repository's lock as it ends
    assert status.returncode == 0, status.stderr
    assert "slow" in status.stdout and "out.txt" in status.stdout


def test_a_command_outlives_a_killed_daemon_and_reports_its_status(
    git_repo: Path, daemon_env: dict[str, str]
) -> None:
    script = "import time\nopen('started', 'w').close()\ntime.sleep(1.5)\nopen('out.txt', 'w').write('done')\n"
    commit_files(
        git_repo,
        {"slow.py": script, "dvc.yaml": "stages:\n  slow:\n    cmd: python slow.py\n    outs: [out.txt]\n"},
        "slow stage",
    )
    start(git_repo, daemon_env)
    daemon_pid = int(jx(git_repo, daemon_env, "daemon", "status").stdout.split("(pid ")[1].split(",")[0])
    client = subprocess.Popen(
        [JUPYTER_EXP, "repro"], cwd=git_repo, env=daemon_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_for(git_repo / "started")
    os.kill(daemon_pid, signal.SIGKILL)
    out, err = client.communicate(timeout=30)
    assert client.returncode == 0, out + err
    assert (git_repo / "out.txt").read_text() == "done"
    assert "No jupyter-exp daemon runs" in jx(git_repo, daemon_env, "daemon", "status").stdout


def test_a_daemon_whose_code_changed_steps_aside(tmp_path: Path, git_repo: Path, daemon_env: dict[str, str]) -> None:
    """After an upgrade (a module it loaded changed on disk) the daemon refuses and exits; the client runs
    the command itself, with the new code."""
    import jupyter_exp

    copy = tmp_path / "site"
    shutil.copytree(Path(jupyter_exp.__file__).parent, copy / "jupyter_exp", ignore=shutil.ignore_patterns("*.pyc"))
    env = {**daemon_env, "PYTHONPATH": str(copy)}
    commit_files(git_repo, PIPELINE, "pipeline")
    start(git_repo, env)
    assert served(git_repo, env) == 0
    assert jx(git_repo, env, "status").returncode == 0
    assert served(git_repo, env) == 1
    changed = copy / "jupyter_exp" / "commands" / "pipeline.py"
    changed.write_text(changed.read_text().replace("Reproduce", "Reproduce (new code)", 1))
    status = jx(git_repo, env, "status")
    assert status.returncode == 0 and "train" in status.stdout
    assert "No jupyter-exp daemon runs" in jx(git_repo, env, "daemon", "status").stdout
    assert "(new code)" in jx(git_repo, env, "repro", "--help").stdout


def test_status_of_a_watched_tree_sees_every_change_a_fresh_process_sees(
    git_repo: Path, daemon_env: dict[str, str]
) -> None:
    """The daemon watches big trees (inotify); its commands list only folders with events. After each kind
    of change, and after undoing it, ``status`` through the daemon says what a fresh process says."""
    data = git_repo / "data"
    for folder in range(5):
        (data / f"d{folder}").mkdir(parents=True)
        for name in range(500):
            (data / f"d{folder}" / f"f{name:03d}").write_text(f"{folder} {name}\n")
    fresh_env = {**daemon_env, "XDG_RUNTIME_DIR": str(git_repo.parent / "no-daemon")}
    assert jx(git_repo, fresh_env, "add", "data").returncode == 0
    start(git_repo, daemon_env)
    for _ in range(3):  # listed before the watch, listed under it, then from the watcher's summary
        assert "up to date" in jx(git_repo, daemon_env, "status").stdout
    assert "watching 6 folders of 1 tree" in jx(git_repo, daemon_env, "daemon", "status").stdout
    original = (data / "d1" / "f007").read_text()

    def same_size_edit() -> None:
        (data / "d1" / "f007").write_text(original.upper().replace("1", "9"))

    def new_folder() -> None:
        (data / "d5" / "deep").mkdir(parents=True)
        (data / "d5" / "deep" / "f").write_text("new\n")

    changes = [
        (same_size_edit, lambda: (data / "d1" / "f007").write_text(original)),
        (lambda: (data / "d2" / "new").write_text("x\n"), lambda: (data / "d2" / "new").unlink()),
        (lambda: (data / "d3" / "f001").unlink(), lambda: (data / "d3" / "f001").write_text("3 1\n")),
        (new_folder, lambda: shutil.rmtree(data / "d5")),
        (lambda: (data / "d4").rename(data / "d9"), lambda: (data / "d9").rename(data / "d4")),
    ]
    for change, undo in changes:
        for step in (change, undo):
            step()
            ours = jx(git_repo, daemon_env, "status")  # first, so a fresh process's state db cannot help it
            theirs = jx(git_repo, fresh_env, "status")
            assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout), step
            assert ("modified:" in ours.stdout) == (step is change), ours.stdout


def test_a_socket_folder_others_can_enter_is_refused(git_repo: Path, daemon_env: dict[str, str]) -> None:
    folder = Path(daemon_env["XDG_RUNTIME_DIR"]) / "jupyter-exp"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    done = jx(git_repo, daemon_env, "daemon", "start")
    assert done.returncode == 1
    assert f"'{folder}' is open to other users" in done.stderr
    assert jx(git_repo, daemon_env, "status").returncode == 0  # commands still run, in their own process


def test_the_notebook_has_no_daemon(run_cli) -> None:  # type: ignore[no-untyped-def]
    from jupyter_exp.commands import Context, UsageError, execute

    with pytest.raises(UsageError, match="only the terminal has a daemon"):
        execute(["daemon", "start"], Context())
