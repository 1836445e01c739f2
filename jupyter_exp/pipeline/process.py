"""A stage's command as a process: its environment, streamed output, checkpoint serving and Ctrl-C.

The command runs in its own session so an interrupt reaches everything it started (the shell and its
children); while it runs, a checkpoint signal file written by the training process (``live.checkpoint``)
is served by committing the checkpoint outputs, and a stop request or Ctrl-C becomes SIGINT for the group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from jupyter_exp import protocol
from jupyter_exp.pipeline.stage import Stage


def command_env(root: Path, stage: Stage, extra: dict[str, str] | None, resume: bool) -> dict[str, str]:
    """The environment a stage's command runs in: ours, plus what DVC tells a stage (its root and name,
    the ``live:`` section's folder and options, whether to serve checkpoints) and the caller's ``extra``."""
    env = dict(os.environ)
    # `python` in a stage means the interpreter running us (a notebook kernel's may not be on PATH).
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env[protocol.ENV_ROOT] = str(root)
    env[protocol.ENV_STAGE] = stage.name
    if stage.live:
        directory, options = next(iter(stage.live.items()))
        options = options or {}
        env[protocol.ENV_LIVE_PATH] = str(root / stage.wdir / directory)
        env[protocol.ENV_LIVE_SUMMARY] = str(bool(options.get("summary", True))).lower()
        env[protocol.ENV_LIVE_HTML] = str(bool(options.get("html", options.get("report", True)))).lower()
        env[protocol.ENV_LIVE_RESUME] = str(resume).lower()
    if stage.checkpoint_outs:
        env[protocol.ENV_CHECKPOINT] = "1"
        env[protocol.ENV_PARENT_PID] = str(os.getpid())
    if extra:
        env.update(extra)
    return env


def run_command(
    cmd: str,
    cwd: Path,
    env: dict[str, str],
    *,
    root: Path,
    on_output: Callable[[str], None] | None,
    on_checkpoint: Callable[[], None] | None,
    stop: threading.Event | None = None,
) -> int:
    """Run one shell command, streaming its output; serve checkpoint signals while it runs.

    Returns its exit status; raises ``KeyboardInterrupt`` once it ended after a Ctrl-C or ``stop``."""
    signal_file = Path(protocol.signal_path(root))
    if on_checkpoint is not None:
        signal_file.parent.mkdir(parents=True, exist_ok=True)
        signal_file.unlink(missing_ok=True)
    pipe = subprocess.PIPE if on_output is not None else None
    stop = stop or threading.Event()
    with _ctrl_c_sets(stop):
        # Its own session, so an interrupt reaches the whole command (the shell and what it started),
        # not only the shell: see _interrupt.
        proc = subprocess.Popen(
            cmd,
            shell=True,
            cwd=cwd,
            env=env,
            stdout=pipe,
            stderr=subprocess.STDOUT if pipe else None,
            start_new_session=True,
        )
        return _supervise(proc, on_output, on_checkpoint, signal_file, stop)


def _supervise(
    proc: subprocess.Popen[bytes],
    on_output: Callable[[str], None] | None,
    on_checkpoint: Callable[[], None] | None,
    signal_file: Path,
    stop: threading.Event,
) -> int:
    """Stream the command's output and serve its checkpoints until it ends; a ``stop`` interrupts it."""
    done = threading.Event()
    failures: list[BaseException] = []
    watcher = None
    if on_checkpoint is not None:
        watcher = threading.Thread(
            target=_serve_checkpoints, args=(signal_file, on_checkpoint, done, failures), daemon=True
        )
        watcher.start()
    threading.Thread(target=_forward_stop, args=(stop, done, proc), daemon=True).start()
    try:
        if proc.stdout is not None and on_output is not None:
            for chunk in iter(lambda: proc.stdout.read1(65536), b""):  # type: ignore[union-attr]
                if not stop.is_set():  # once interrupted, the command's own dying words are not shown
                    on_output(chunk.decode("utf-8", "replace"))
        code = proc.wait()
    except KeyboardInterrupt:
        _interrupt(proc)
        raise
    finally:
        done.set()
        if watcher is not None:
            watcher.join()
    if failures:
        raise failures[0]
    if stop.is_set():
        raise KeyboardInterrupt
    return code


def _serve_checkpoints(
    signal_file: Path, on_checkpoint: Callable[[], None], done: threading.Event, failures: list[BaseException]
) -> None:
    """Poll for the training process's checkpoint signal; commit, then release it by deleting the file.

    A signal still present once the command ended (it exited, or Ctrl-C stopped it, right after asking)
    is served too: outputs are written before the signal, so that checkpoint is complete, and no stale
    file is left behind."""
    while True:
        ended = done.is_set()
        if signal_file.exists():
            try:
                on_checkpoint()
            except BaseException as exc:  # surfaced by the main thread after the command ends
                failures.append(exc)
            finally:
                signal_file.unlink(missing_ok=True)
        if ended:
            return
        done.wait(0.01)  # a checkpoint waits for this poll: at most 10 ms of its overhead


@contextlib.contextmanager
def _ctrl_c_sets(stop: threading.Event) -> Iterator[None]:
    """In the main thread, make Ctrl-C a ``stop`` request while a command runs.

    A ``KeyboardInterrupt`` raised between starting the command and supervising it (a Ctrl-C that
    arrives while ``Popen`` returns, under load) would leave the command running in its own session;
    a flag that the supervisor turns into SIGINT for the command's group cannot be lost that way.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _forward_stop(stop: threading.Event, done: threading.Event, proc: subprocess.Popen[bytes]) -> None:
    """Turn a ``stop`` request from another thread into the Ctrl-C the command would get in a terminal."""
    while not done.is_set():
        if stop.wait(0.05):
            _interrupt(proc)
            return


def _interrupt(proc: subprocess.Popen[bytes]) -> None:
    """Forward Ctrl-C to the command's process group (it has its own session, so neither a terminal's
    Ctrl-C nor a kernel interrupt reaches it directly), then make sure all of it ends."""
    _signal_group(proc, signal.SIGINT)
    started = time.monotonic()
    repeated = False
    while proc.poll() is None and time.monotonic() - started < 10:
        if not repeated and time.monotonic() - started > 2:
            # `sh -c` catches SIGINT; one landing in its child between fork and exec is lost, and the shell
            # then waits for a program that never saw it. A second Ctrl-C, as a user would press, ends that.
            _signal_group(proc, signal.SIGINT)
            repeated = True
        time.sleep(0.05)
    _signal_group(proc, signal.SIGKILL)  # whatever the shell started and left behind
    proc.wait()
    sys.stdout.flush()


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)
