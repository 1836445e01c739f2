"""Shared fixtures and helpers: real Git (+ ``.dvc/``) repositories, the CLI run in-process, the ``git``
and reference ``dvc`` CLIs, files written or committed from a dict, notebooks run on a real kernel, and
the ``dvc`` marker.

Test modules import the helpers with ``from conftest import ...`` (see :func:`pytest_collectstart`).

``@pytest.mark.dvc`` tests compare with the real DVC 3 installed in a separate venv, found through
``JUPYTER_EXP_DVC_VENV``, then ``/tmp/ref``, then ``benchmarks/.ref-venv``. Without one they are
deselected (reported at collection with the reason), never silently skipped.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
# The venv's console scripts (jupyter-exp, jupyter, jlpm) first on PATH, activated or not: `make test` and CI
# run `.venv/bin/python -m pytest` with a PATH that does not name the venv.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
# Commands a test starts never reach a `jupyter exp daemon` the developer left running: its socket folder is
# under XDG_RUNTIME_DIR, here one of this run's own (tests/cli/test_daemon.py starts daemons in theirs).
_RUNTIME = Path(tempfile.mkdtemp(prefix="jx-tests-runtime-"))
os.environ["XDG_RUNTIME_DIR"] = str(_RUNTIME)
atexit.register(shutil.rmtree, _RUNTIME, ignore_errors=True)


def find_dvc() -> Path | None:
    """The ``dvc`` executable of the reference venv, if one is installed."""
    candidates = [os.environ.get("JUPYTER_EXP_DVC_VENV"), "/tmp/ref", REPO_ROOT / "benchmarks" / ".ref-venv"]
    for venv in candidates:
        if venv and (Path(venv) / "bin" / "dvc").is_file():
            return Path(venv) / "bin" / "dvc"
    return None


DVC = find_dvc()
_NO_DVC_REASON = (
    "no reference DVC found (set JUPYTER_EXP_DVC_VENV, or install dvc==3.67.1 in /tmp/ref "
    "or benchmarks/.ref-venv)"
)


def pytest_collectstart(collector: pytest.Collector) -> None:
    """Make ``from conftest import X`` in a test module mean its nearest ``conftest.py``.

    Folders without ``__init__.py`` each load their conftest as the top-level module ``conftest``, so
    the last one collected would otherwise win (a test importing ``DVC`` would get the browser folder's).
    """
    if not isinstance(collector, pytest.Module):
        return
    folder = Path(collector.path).parent
    candidates = [
        plugin
        for plugin in collector.config.pluginmanager.get_plugins()
        if getattr(plugin, "__name__", None) == "conftest"  # not a package's (``scm.conftest``)
        and folder.is_relative_to(Path(plugin.__file__).parent)
    ]
    if candidates:
        sys.modules["conftest"] = max(candidates, key=lambda plugin: len(Path(plugin.__file__).parts))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if DVC is not None:
        return
    deselected = [item for item in items if item.get_closest_marker("dvc")]
    if deselected:
        items[:] = [item for item in items if not item.get_closest_marker("dvc")]
        config.hook.pytest_deselected(items=deselected)
        config._jupyter_exp_no_dvc = len(deselected)  # type: ignore[attr-defined]


def pytest_report_collectionfinish(config: pytest.Config) -> str | None:
    count = getattr(config, "_jupyter_exp_no_dvc", 0)
    return f"deselected {count} @pytest.mark.dvc tests: {_NO_DVC_REASON}" if count else None


GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Tester",
    "GIT_AUTHOR_EMAIL": "tester@example.com",
    "GIT_COMMITTER_NAME": "Tester",
    "GIT_COMMITTER_EMAIL": "tester@example.com",
}


@pytest.fixture(autouse=True)
def no_watcher_left() -> Iterator[None]:
    """A test whose magics started a kernel's file watcher (``data/watch.py``) takes it away with it: the
    next test in this process starts without one, as a fresh kernel does."""
    yield
    from jupyter_exp.data import watch

    if watch._active is not None:
        if watch._active.fd >= 0:
            os.close(watch._active.fd)
        watch._active = None
    if "jupyter_exp.notebook.magics" in sys.modules:
        sys.modules["jupyter_exp.notebook.magics"]._watching.clear()


@pytest.fixture
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Author and committer of the commits the test makes (with ``git`` or dulwich)."""
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def git_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, git_identity: None) -> Path:
    """An empty Git repository (made with dulwich) without ``.dvc/``; cwd is set to it."""
    from dulwich.repo import Repo as DulwichRepo

    root = tmp_path / "repo"
    root.mkdir()
    DulwichRepo.init(str(root)).close()
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def git_repo(git_only: Path) -> Path:
    """An empty Git repository (made with dulwich) with ``.dvc/`` initialised; cwd is set to it."""
    from jupyter_exp.repo import Repo

    Repo.init(git_only)
    return git_only


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[Any]:
    """moto's S3 server on 127.0.0.1 (``tests/moto_s3.py``), with its dummy credentials in the environment
    for this process and the ``jupyter-exp``/``dvc`` processes a test starts."""
    from moto_s3 import CREDENTIALS, MotoS3

    saved = {key: os.environ.get(key) for key in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    server = MotoS3()
    try:
        yield server
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# -- Git, DVC and files ------------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    """The real ``git`` CLI in ``cwd``: its output, stripped (a non-zero exit fails the test)."""
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def commit_files(root: Path, files: Mapping[str, Any], message: str) -> str:
    """:func:`write_files`, then commit those files with dulwich; returns the new commit's sha."""
    from dulwich import porcelain

    write_files(root, files)
    porcelain.add(str(root), paths=[str(root / rel) for rel in files])
    author = b"Tester <tester@example.com>"
    return porcelain.commit(str(root), message=message.encode(), author=author, committer=author).decode()


def run_dvc(cwd: Path, *args: str) -> str:
    """The reference ``dvc`` in ``cwd``: its stdout (a non-zero exit fails the test with DVC's output)."""
    assert DVC is not None
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    done = subprocess.run([str(DVC), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"dvc {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def write_files(root: Path, files: Mapping[str, Any]) -> None:
    """Write ``{relative path: content}`` under ``root``, making folders: text dedented (so a test may
    indent it in place), any other value as YAML (JSON for a ``.json`` path)."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(textwrap.dedent(content))
        elif rel.endswith(".json"):
            path.write_text(json.dumps(content))
        else:
            path.write_text(yaml.safe_dump(content, sort_keys=False))


def write_bytes(path: Path, data: bytes) -> Path:
    """``path.write_bytes(data)``, making its folder first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def files_under(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` by POSIX relative path, with its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- notebooks ---------------------------------------------------------------------------------------------


def run_notebook(path: Path, saved: Path, *, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run the notebook ``path`` top to bottom on a real ``python3`` kernel started in its folder (``env``
    added to the environment), then write it with its outputs to ``saved``. Returns ``notebook``, ``cells``
    (code cells by their first line), ``saved`` and ``elapsed`` (seconds the run took)."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    # jupyter_client swaps a kernelspec's bare `python` for this interpreter, so "python3" runs in .venv.
    assert Path(sys.executable).parent.joinpath("python").exists()
    client = NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    path_var = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    started = time.monotonic()
    client.execute(env={**os.environ, "PATH": path_var, **(env or {})})
    elapsed = time.monotonic() - started
    nbformat.write(notebook, saved)
    cells = {c.source.splitlines()[0]: c for c in notebook.cells if c.cell_type == "code"}
    return {"notebook": notebook, "cells": cells, "saved": saved, "elapsed": elapsed}


def outputs_text(cell: Any) -> str:
    """What a notebook cell showed as text: streams, plain-text displays and results, tracebacks."""
    parts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            parts.append(output["text"])
        elif output["output_type"] in ("display_data", "execute_result"):
            parts.append(output["data"].get("text/plain", ""))
        elif output["output_type"] == "error":
            parts.append("\n".join(output["traceback"]))
    return "\n".join(parts)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


CliRunner = Callable[..., CliResult]


def ok(result: CliResult) -> str:
    """The output of a CLI run that must succeed (otherwise the test fails showing the exit code and output)."""
    assert result.code == 0, f"exit {result.code}\n{result.out}\n{result.err}"
    return result.out


@pytest.fixture
def run_cli(git_repo: Path) -> CliRunner:
    """``run_cli(*words, cwd=None)``: ``jupyter_exp.cli.main`` in-process, output captured."""
    from jupyter_exp.cli import main

    def run(*words: str, cwd: Path | None = None) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        previous = Path.cwd()
        os.chdir(cwd or git_repo)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(list(words))
        finally:
            os.chdir(previous)
        return CliResult(code, out.getvalue(), err.getvalue())

    return run
