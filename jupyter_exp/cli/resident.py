"""The terminal's resident process: Python and the imports paid once, every command forked from it.

A fresh ``jupyter-exp`` spends ~75-90 ms starting Python and importing dulwich, PyYAML, sqlite3 and the
pipeline before it does any work; an ``exp run`` of two stages does ~40 ms of its own. After
``jupyter exp daemon start`` a process keeps all of that loaded. The console script, finding its socket,
sends its words, working folder, environment and umask with its stdin/stdout/stderr (SCM_RIGHTS); the
daemon forks a child that runs the command on them, and reports the child's exit status when it ends
(Mercurial's chg works this way). Ctrl-C, and a kill of the client, reach the child as a Ctrl-C.

The daemon never runs a command itself, so every child starts from the same pristine state. It exits
after ``--idle`` minutes without a command, and refuses (then exits) once any module it loaded changed on
disk: the client then runs the command itself, as it does whenever no daemon answers.

The client side (``forward``) must cost less than the imports it saves: it imports only builtin modules.
"""

from __future__ import annotations

import _signal
import _socket
import marshal
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_FDS = (0, 1, 2)
_INT_SIZE = 4
_IDLE_MINUTES = 15.0


def _folder() -> str:
    """A folder only this user can enter: ``$XDG_RUNTIME_DIR/jupyter-exp``, else one in /tmp per user (also
    when the runtime folder's name is so long that a socket in it would pass the 107 bytes Linux allows)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and len(runtime) < 64 and os.path.isdir(runtime):
        return f"{runtime}/jupyter-exp"
    return f"/tmp/jupyter-exp-{os.getuid()}"


def _key(path: list[str]) -> str:
    """Which installation a daemon serves: the interpreter, this package's folder and the import path
    (without its first entry, the script's own folder), so a checkout's tests never reach a venv's daemon."""
    import zlib

    here = os.path.dirname(os.path.abspath(__file__))
    return f"{zlib.crc32(chr(0).join([sys.executable, here, *path]).encode()):08x}"


def _address() -> str:
    return f"{_folder()}/{_key(sys.path[1:])}.sock"


def _private(folder: str) -> bool:
    """The folder is ours and closed to others (else a socket in it could be anybody's)."""
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        return False
    return info.st_uid == os.getuid() and (info.st_mode & 0o077) == 0 and os.path.isdir(folder)


# -- the client -------------------------------------------------------------------------------------------


def _supported() -> bool:
    """Forking a warm process is safe on Linux and the BSDs; macOS's system libraries do not support it,
    and Windows has no fork."""
    return hasattr(os, "fork") and hasattr(_socket, "AF_UNIX") and sys.platform != "darwin"


def forward(argv: list[str]) -> int | None:
    """Run ``argv`` in the daemon if one serves this installation: its exit status, else None."""
    if not _supported():
        return None
    address = _address()
    if not _private(os.path.dirname(address)):
        return None
    try:
        for fd in _FDS:
            os.fstat(fd)
    except OSError:  # a closed stdin/stdout/stderr cannot be passed on: run here
        return None
    umask = os.umask(0o022)
    os.umask(umask)
    connection = _connect(address)
    if connection is None:
        return None
    try:
        command = _Command()  # from here a Ctrl-C is the command's, even before it started
        payload = marshal.dumps(("run", _key(sys.path[1:]), argv, os.getcwd(), dict(os.environ), umask))
        fds = b"".join(fd.to_bytes(_INT_SIZE, sys.byteorder) for fd in _FDS)
        try:
            connection.sendmsg(
                [len(payload).to_bytes(8, "big"), payload],
                [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)],
            )
        except OSError:
            return command.not_started()
        replies = _Lines(connection)
        first = replies.next()
        if first is None or not first.startswith("pid "):
            return command.not_started()  # refused (its code changed, another installation) or gone
        command.started(int(first[4:]))
        return command.ended(replies.next())
    finally:
        connection.close()


def _connect(address: str) -> Any:
    connection = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        connection.connect(address)
    except OSError:
        connection.close()
        return None
    return connection


class _Lines:
    """The daemon's replies, a line each."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._buffer = b""

    def next(self) -> str | None:
        while b"\n" not in self._buffer:
            try:
                chunk = self._connection.recv(4096)
            except InterruptedError:
                continue
            except OSError:
                return None
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()


class _Command:
    """The client's side of a forwarded command: signals passed on to it, its end made the client's."""

    _SIGNALS = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT)

    def __init__(self) -> None:
        self.pid: int | None = None
        self.pending: list[int] = []
        self.previous = {signum: _signal.signal(signum, self._pass_on) for signum in self._SIGNALS}

    def _pass_on(self, signum: int, _frame: object) -> None:
        if self.pid is None:
            self.pending.append(signum)
            return
        # A SIGTERM of the client (a kill) is a Ctrl-C for the command: it keeps what it completed.
        try:  # noqa: SIM105 (contextlib is an import the client does not otherwise pay)
            os.kill(self.pid, _signal.SIGINT if signum == _signal.SIGTERM else signum)
        except ProcessLookupError:
            pass

    def not_started(self) -> int | None:
        """Run it here after all; a Ctrl-C that came meanwhile is raised here."""
        for signum, handler in self.previous.items():
            _signal.signal(signum, handler)
        if _signal.SIGINT in self.pending:
            raise KeyboardInterrupt
        return None

    def started(self, pid: int) -> None:
        self.pid = pid
        for signum in self.pending:
            self._pass_on(signum, None)

    def ended(self, reply: str | None) -> int:
        """The command's exit status; killed by a signal, the client is killed by it too."""
        if reply is None:
            os.write(2, b"ERROR: the jupyter-exp daemon went away while the command ran\n")
            return 255
        kind, _, value = reply.partition(" ")
        if kind == "signal":
            _signal.signal(int(value), _signal.SIG_DFL)
            os.kill(os.getpid(), int(value))
            return 128 + int(value)
        return int(value)


def _tell(address: str, request: tuple[Any, ...]) -> None:
    """Send the daemon a request that needs no answer (a forked command's watch request)."""
    connection = _connect(address)
    if connection is not None:
        _send_request(connection, request)
        connection.close()


def _ask(request: tuple[Any, ...]) -> str | None:
    """One line from the daemon of this installation, or None when none runs."""
    connection = _connect(_address())
    if connection is None:
        return None
    try:
        if not _send_request(connection, request):
            return None
        reply = _Lines(connection).next()
        return None if reply is None or reply.startswith("refused") else reply
    finally:
        connection.close()


def _send_request(connection: Any, request: tuple[Any, ...]) -> bool:
    """A request as the daemon reads it (length, marshal data); False if the daemon went away."""
    payload = marshal.dumps(request)
    try:
        connection.sendall(len(payload).to_bytes(8, "big") + payload)
    except OSError:
        return False
    return True


# -- managing it (`jupyter exp daemon start|stop|status`) --------------------------------------------------


def manage(action: str, idle_minutes: float = _IDLE_MINUTES) -> str:
    """Start, stop or describe this installation's daemon."""
    from jupyter_exp.errors import JupyterExpError

    if not _supported():
        raise JupyterExpError(f"daemon {action}: needs fork and Unix sockets without macOS's limits (Linux, BSD)")
    running = _ask(("status", _key(sys.path[1:])))
    if action == "status":
        return running or "No jupyter-exp daemon runs for this installation."
    if action == "stop":
        if running is None:
            return "No jupyter-exp daemon runs for this installation."
        _ask(("stop", _key(sys.path[1:])))
        return "Stopped the jupyter-exp daemon."
    if running is not None:
        return running
    import subprocess

    folder = _folder()
    os.makedirs(folder, mode=0o700, exist_ok=True)
    if not _private(folder):
        raise JupyterExpError(
            f"'{folder}' is open to other users (or not ours): the daemon will not listen there"
        )
    address = _address()
    log = f"{address.removesuffix('.sock')}.log"
    code = "import sys; del sys.path[0]; from jupyter_exp.cli.resident import serve; serve(sys.argv[1], float(sys.argv[2]))"
    with open(log, "ab") as log_file:
        daemon = subprocess.Popen(
            [sys.executable, "-c", code, address, str(idle_minutes)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,  # not in the terminal's process group: its Ctrl-C is for the clients
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        reply = _ask(("status", _key(sys.path[1:])))
        if reply is not None:
            return reply.replace("runs", "started", 1)
        if daemon.poll() is not None:
            break
        time.sleep(0.05)
    raise JupyterExpError(f"the jupyter-exp daemon did not start; its log: '{log}'")


# -- the daemon ---------------------------------------------------------------------------------------------


def serve(address: str, idle_minutes: float) -> None:
    """Load what commands use, listen on ``address`` and fork a child per command until idle or stale."""
    _Daemon(address, idle_minutes).loop()


class _Daemon:
    def __init__(self, address: str, idle_minutes: float) -> None:
        import signal
        import socket

        self.key = _key(sys.path)  # the client's path without the script's folder: ours was deleted
        _preload()
        self.watched = _loaded_files()
        from jupyter_exp.repo import watch_files

        self.watcher = watch_files()
        self.address, self.idle_minutes = address, idle_minutes
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        partial = f"{os.path.dirname(address)}/.{os.getpid()}.tmp"
        self.listener.bind(partial)
        os.chmod(partial, 0o600)
        self.listener.listen(64)
        os.replace(partial, address)  # clients find a socket only once it listens
        self.inode = os.stat(address).st_ino
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_write, False)
        signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)
        signal.set_wakeup_fd(self.wake_write, warn_on_full_buffer=False)
        for signum in (signal.SIGINT, signal.SIGHUP):  # a terminal's signals are its clients'
            signal.signal(signum, signal.SIG_IGN)
        self.started, self.served, self.last_used = time.time(), 0, time.monotonic()
        self.children: dict[int, Any] = {}  # pid -> the client's connection
        self.abandoned: set[int] = set()  # children whose client went away (already told to stop)
        self.accepting = True

    def loop(self) -> None:
        import select

        try:
            while self.accepting or self.children:
                if (
                    self.accepting
                    and not self.children
                    and time.monotonic() - self.last_used > self.idle_minutes * 60
                ):
                    self._stop_accepting(f"idle for {self.idle_minutes:g} min")
                    continue
                watching = [c for p, c in self.children.items() if p not in self.abandoned]
                listening = [self.listener] if self.accepting else []
                events = [self.watcher] if self.watcher is not None else []
                readable, _, _ = select.select([*listening, self.wake_read, *events, *watching], [], [], 5)
                if self.wake_read in readable:
                    os.read(self.wake_read, 4096)
                if self.watcher is not None and self.watcher in readable:
                    self.watcher.drain()
                self._reap()
                for pid, connection in list(self.children.items()):
                    if connection in readable:  # its client went away (killed): a Ctrl-C for the command
                        self.abandoned.add(pid)
                        os.kill(pid, _signal.SIGINT)
                if self.listener in readable and self.accepting:
                    self._accept()
        finally:
            _signal.set_wakeup_fd(-1)
            self._stop_accepting("exiting")

    def _stop_accepting(self, why: str) -> None:
        """No new commands; the running ones still get their exit status reported. Why goes to the log."""
        if not self.accepting:
            return
        self.accepting = False
        print(
            f"{time.strftime('%Y-%m-%d %H:%M:%S')} pid {os.getpid()} stops accepting: {why}",
            file=sys.stderr,
            flush=True,
        )
        try:
            if os.stat(self.address).st_ino == self.inode:  # not a newer daemon's socket
                os.unlink(self.address)
        except FileNotFoundError:
            pass
        self.listener.close()

    def _accept(self) -> None:
        import threading

        connection, _ = self.listener.accept()
        self.last_used = time.monotonic()
        request, fds = _receive(connection)
        try:
            changed = _changed(self.watched) if request[1] == self.key else None
            if request[1] != self.key or changed:
                _send(connection, "refused: another installation, or changed on disk")
                if changed:  # stale: the next `daemon start` loads the new code
                    self._stop_accepting(f"'{changed}' changed on disk")
            elif request[0] == "status":
                since = time.strftime("%H:%M:%S", time.localtime(self.started))
                _send(
                    connection,
                    f"A jupyter-exp daemon runs (pid {os.getpid()}, {self.served} commands since {since}, exits "
                    f"after {self.idle_minutes:g} min idle), socket '{self.address}'{self._watching()}",
                )
            elif request[0] == "watch" and len(request) == 3 and isinstance(request[2], str):
                if self.watcher is not None and os.path.isabs(request[2]):
                    self.watcher.watch(request[2])
            elif request[0] == "stop":
                _send(connection, "stopping")
                self._stop_accepting("asked to stop")
            elif request[0] == "run" and len(fds) == len(_FDS) and len(request) == 6:
                if threading.active_count() != 1:
                    raise RuntimeError("the daemon must stay single-threaded to fork")
                if self.watcher is not None:  # the command sees every change made before it was asked for
                    self.watcher.drain()
                pid = os.fork()
                if pid == 0:
                    try:
                        if self.watcher is not None:
                            address, key = self.address, self.key
                            self.watcher.detach(lambda root: _tell(address, ("watch", key, root)))
                        _child(request, fds, connection, self.listener, [self.wake_read, self.wake_write])
                    finally:  # never back into the daemon's loop
                        os._exit(1)
                self.served += 1
                self.children[pid] = connection
                _send(connection, f"pid {pid}")
                return
        finally:
            _close(fds)
        connection.close()

    def _watching(self) -> str:
        if self.watcher is None:
            return "; no file watcher (inotify) here"
        trees = len(self.watcher.roots)
        return f"; watching {len(self.watcher.wds)} folders of {trees} tree{'s' * (trees != 1)}"

    def _reap(self) -> None:
        """Tell each ended child's client how it ended."""
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.abandoned.discard(pid)
            connection = self.children.pop(pid, None)
            if connection is not None:
                code = os.waitstatus_to_exitcode(status)
                if code < 0:  # killed: it could not say so itself
                    _send(connection, f"signal {-code}")
                connection.close()


def _send(connection: Any, line: str) -> None:
    import contextlib

    with contextlib.suppress(OSError):  # the client left; its command learns so when the connection ends
        connection.sendall(f"{line}\n".encode())


def _preload() -> None:
    """Import what the commands import: everything but the Jupyter front ends and optional engines."""
    import contextlib
    import importlib
    import pkgutil

    import jupyter_exp

    skip = ("jupyter_exp.notebook", "jupyter_exp.server", "jupyter_exp.live.callbacks")
    for module in pkgutil.walk_packages(jupyter_exp.__path__, "jupyter_exp."):
        if not module.name.startswith(skip) and not module.name.endswith(
            ("__main__", "dask_executor", "sweep")
        ):
            importlib.import_module(module.name)
    # What commands import lazily, as found by running them in a fork of a daemon that had not.
    dulwich = ("dulwich.repo", "dulwich.config", "dulwich.ignore", "dulwich.index", "dulwich.worktree")
    for name in (
        "rich.console",
        "rich.table",
        "rich.progress",
        "sqlite3",
        "yaml",
        *dulwich,
        "dulwich.trailers",
    ):
        with contextlib.suppress(ImportError):  # trailers: only in newer dulwich releases
            importlib.import_module(name)


def _loaded_files() -> dict[str, int]:
    import contextlib

    files = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path:
            with contextlib.suppress(OSError):
                files[path] = os.stat(path).st_mtime_ns
    return files


def _changed(watched: dict[str, int]) -> str | None:
    """The first loaded module file that changed (or went) since the daemon started."""
    for path, mtime in watched.items():
        try:
            if os.stat(path).st_mtime_ns != mtime:
                return path
        except OSError:
            return path
    return None


def _receive(connection: Any) -> tuple[tuple[Any, ...], list[int]]:
    """A request (length, marshal data) and the descriptors sent with it; ("bad", "") if malformed."""
    import array

    fds = array.array("i")
    try:
        message, ancillary, _, _ = connection.recvmsg(65536, _socket.CMSG_SPACE(len(_FDS) * fds.itemsize))
    except OSError:
        return ("bad", ""), []
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    while len(message) < 8 or len(message) < 8 + int.from_bytes(message[:8], "big"):
        try:
            chunk = connection.recv(1 << 20)
        except OSError:
            chunk = b""
        if not chunk:
            break
        message += chunk
    try:
        request = marshal.loads(message[8:])
    except (EOFError, ValueError, TypeError):
        request = None
    if not isinstance(request, tuple) or len(request) < 2:
        request = ("bad", "")
    return request, list(fds)


def _close(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def _child(request: tuple[Any, ...], fds: list[int], connection: Any, listener: Any, pipe: list[int]) -> None:
    """Become the command: the client's descriptors, folder, environment and umask; then tell the client
    how it ended (itself, so that the client still learns it if the daemon was killed meanwhile) and exit."""
    import io
    import random
    import signal

    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        listener.close()
        _close(pipe)
        for target, fd in zip(_FDS, fds, strict=True):
            os.dup2(fd, target)
        _close(fds)
        _, _, argv, cwd, env, umask = request
        os.environ.clear()
        os.environ.update(env)
        os.umask(umask)
        os.chdir(cwd)
        random.seed()  # not the daemon's state, which every child would share
        encoding = env.get("PYTHONIOENCODING", "").partition(":")[0] or sys.stdout.encoding
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding=encoding)
        sys.stdout = io.TextIOWrapper(
            io.FileIO(1, "w", closefd=False), encoding=encoding, line_buffering=os.isatty(1)
        )
        sys.stderr = io.TextIOWrapper(
            io.FileIO(2, "w", closefd=False),
            encoding=encoding,
            errors="backslashreplace",
            line_buffering=True,
        )
        sys.argv = ["jupyter-exp", *argv]
        from jupyter_exp.cli import main

        code = main(argv)
    except KeyboardInterrupt:  # before the command started
        code = 130
    except BaseException:  # the daemon's bug, not the command's: shown where the user looks
        import traceback

        traceback.print_exc()
    finally:
        # Done: a Ctrl-C from now on (the client leaving once it read the status) must not interrupt the exit.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            _send(connection, f"exit {code}")
            os._exit(code)
