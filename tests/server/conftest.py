"""A real ``jupyter server`` (subprocess on 127.0.0.1) with the jupyter_exp extension, and real repositories.

The server gets its own config folder whose ``jupyter_server_config.json`` enables ``jupyter_exp.server``,
so these tests do not depend on the package's installed config file (``test_installed`` checks that one).
Repositories are made with the ``git`` CLI and the ``Repo`` API: a one-stage pipeline whose ``train.py``
writes metrics and a plot, reproduced and committed, then two named experiments.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from jupyter_exp.repo import Repo

DVC_YAML = """\
stages:
  train:
    cmd: {python} train.py
    deps: [train.py]
    params: [train.lr, train.sleep]
    metrics:
      - metrics.json:
          cache: false
    plots:
      - history.json:
          cache: false
"""
TRAIN = """\
import json, time, yaml
p = yaml.safe_load(open("params.yaml"))["train"]
time.sleep(p["sleep"])
json.dump({"loss": round(1 - p["lr"], 4), "acc": p["lr"]}, open("metrics.json", "w"))
json.dump([{"step": i, "loss": round(1 - p["lr"] * i, 4)} for i in range(3)], open("history.json", "w"))
"""
PARAMS = "train:\n  lr: 0.1\n  sleep: 0\n"
START_TIMEOUT = 60.0


def git(cwd: Path, *args: str) -> str:
    """The ``git`` CLI (tests/conftest.py's ``git``, which this package's modules cannot import)."""
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def make_project(root: Path, experiments: dict[str, list[str]]) -> Path:
    """A committed, reproduced pipeline at ``root`` plus one experiment per ``name -> -S params``."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    Repo.init(root)
    (root / "dvc.yaml").write_text(DVC_YAML.format(python=sys.executable))
    (root / "train.py").write_text(TRAIN)
    (root / "params.yaml").write_text(PARAMS)
    repo = Repo(root)
    repo.pipeline.reproduce()
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "baseline")
    for name, params in experiments.items():
        repo.experiments.run(params, name=name)
    git(
        root, "checkout", "-q", "--", "."
    )  # `exp run` applies its result; the workspace is the baseline again
    return root


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


@dataclass
class Server:
    """A running ``jupyter server``: base URL, token, the folder it serves."""

    url: str
    token: str
    root: Path
    log: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def call(
        self,
        method: str,
        endpoint: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        token: bool = True,
        opener: urllib.request.OpenerDirector | None = None,
    ) -> Reply:
        """One request to ``/jupyter-exp/api/<endpoint>``; non-2xx answers are returned, not raised."""
        url = f"{self.url}jupyter-exp/api/{endpoint}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
        if token:
            request.add_header("Authorization", f"token {self.token}")
        try:
            with (opener or urllib.request.build_opener()).open(request, timeout=30) as response:
                return Reply(response.status, response.read(), dict(response.headers))
        except urllib.error.HTTPError as err:
            return Reply(err.code, err.read(), dict(err.headers))

    def get(self, endpoint: str, **query: str) -> Reply:
        return self.call("GET", endpoint, query=query)

    def post(self, endpoint: str, body: Any) -> Reply:
        return self.call("POST", endpoint, body)

    def cookie_session(self) -> tuple[urllib.request.OpenerDirector, http.cookiejar.CookieJar]:
        """A browser-like client: logged in once with the token in the URL, then cookies only."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        for page in ("login", f"api/status?token={self.token}"):  # the login form sets the _xsrf cookie
            with opener.open(f"{self.url}{page}", timeout=30) as response:
                assert response.status == 200
        return opener, jar

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_extension(server: Server, deadline: float) -> None:
    """Until the extension answers: the served folder is no repository, so ``status`` says so with 404."""
    while time.monotonic() < deadline and server.process.poll() is None:
        try:
            reply = server.get("status")
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
            continue
        if reply.status == 404 and reply.body.startswith(b"{") and "error" in reply.json:
            return
        break
    pytest.fail(f"jupyter server did not serve the jupyter_exp extension:\n{server.log_tail()}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("jupyter-server")
    root = base / "root"
    root.mkdir()
    config = base / "config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"jupyter_exp.server": True}}})
    )
    token, port = secrets.token_hex(16), _free_port()
    env = {
        **os.environ,  # the server's own commits (apply, queue) need no identity, as in tests/browser
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_DATA_DIR": str(base / "data"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTER_PLATFORM_DIRS": "0",
    }
    command = [
        sys.executable, "-m", "jupyter_server",
        "--ip=127.0.0.1", f"--port={port}", "--port-retries=0", "--no-browser", "--allow-root",
        f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
    ]  # fmt: skip
    log = base / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=sink, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}/", token, root, log, process)
    try:
        _wait_for_extension(server, time.monotonic() + START_TIMEOUT)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def project(server: Server, request: pytest.FixtureRequest, git_identity: None) -> Path:
    """A fresh repository inside the served folder: experiments ``fast`` (lr 0.2) and ``slow`` (lr 0.05)."""
    return make_project(
        server.root / request.node.name, {"fast": ["train.lr=0.2"], "slow": ["train.lr=0.05"]}
    )
