"""Real JupyterLab and Notebook 7 servers and a headless Debian Chromium driven by Playwright for Python.

Each server runs from this venv on 127.0.0.1 with its own config/data/runtime folders (the venv's
``share/jupyter`` stays on the path, so the ipywidgets and anywidget front-end extensions load). Chromium
is Debian's (``make browser-deps``): Playwright never downloads a browser here.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
CHROMIUM = Path(os.environ.get("JUPYTER_EXP_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 60.0


@dataclass
class LabServer:
    """A running ``jupyter lab`` or ``jupyter notebook``: where it serves, its token, folder and log."""

    url: str
    token: str
    root: Path
    log: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def tree_url(self, notebook: str) -> str:
        return f"{self.url}lab/tree/{notebook}?token={self.token}"

    def notebook_url(self, notebook: str) -> str:
        """The Notebook 7 page of ``notebook`` (one document per tab, no lab shell)."""
        return f"{self.url}notebooks/{notebook}?token={self.token}"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(server: LabServer, app: str, deadline: float) -> None:
    """Poll ``/api/status`` until it answers 200; fail with the server's log if it dies or never answers."""
    status_url = f"{server.url}api/status?token={server.token}"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"jupyter {app} exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(status_url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(
        f"jupyter {app} did not answer {status_url} within {SERVER_START_TIMEOUT:.0f} s:\n{server.log_tail()}"
    )


def _serve(tmp_path_factory: pytest.TempPathFactory, app: str, app_args: list[str]) -> Iterator[LabServer]:
    """``python -m <app>`` on a free port of 127.0.0.1, serving an empty temp folder; killed at teardown."""
    base = tmp_path_factory.mktemp(app)
    root = base / "root"
    root.mkdir()
    token = secrets.token_hex(16)
    port = _free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_DATA_DIR": str(base / "data"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTER_PLATFORM_DIRS": "0",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [
        sys.executable, "-m", app,
        "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
        "--no-browser", "--allow-root",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.disable_check_xsrf=False",
        *app_args,
    ]  # fmt: skip
    # No "get notified about Jupyter news?" toast over the screenshots (Notebook 7 reads the same settings).
    notification = base / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}'
    )
    # The checkout's built panel (make builds it) before whatever the venv has installed: JUPYTER_PATH comes
    # first in Jupyter's search path, so the tests see this code.
    built = REPO_ROOT / "jupyter_exp" / "labextension"
    if (built / "package.json").exists():
        (base / "checkout" / "labextensions").mkdir(parents=True)
        (base / "checkout" / "labextensions" / "jupyter-exp").symlink_to(built)
        env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(base / "checkout"), env.get("JUPYTER_PATH")]))
    log = base / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=sink, stderr=subprocess.STDOUT)
    server = LabServer(f"http://127.0.0.1:{port}/", token, root, log, process)
    try:
        _wait_until_up(server, app, time.monotonic() + SERVER_START_TIMEOUT)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """``jupyter lab``, its app object exposed as ``window.jupyterapp`` and its update checks off."""
    yield from _serve(
        tmp_path_factory,
        "jupyterlab",
        [
            "--LabApp.news_url=None",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
    )


@pytest.fixture(scope="session")
def notebook_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """``jupyter notebook`` (Notebook 7), its app object exposed as ``window.jupyterapp``."""
    yield from _serve(tmp_path_factory, "notebook", ["--JupyterNotebookApp.expose_app_in_browser=True"])


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A headless Debian Chromium with a fresh profile, launched through Playwright (no browser download)."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} not found: run `make browser-deps` (installs Debian's chromium) for the browser tests"
        )
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
            timeout=60_000,
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """``test-artifacts/browser/<test name>/`` (gitignored), emptied for this run."""
    folder = ARTIFACTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder
