"""Shared fixtures: a real Git + ``.dvc/`` repository, the CLI run in-process, and the ``dvc`` marker.

``@pytest.mark.dvc`` tests compare with the real DVC 3 installed in a separate venv, found through
``JUPYTER_EXP_DVC_VENV``, then ``/tmp/ref``, then ``benchmarks/.ref-venv``. Without one they are
deselected (reported at collection with the reason), never silently skipped.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


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


@pytest.fixture
def git_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Git repository (made with dulwich) with ``.dvc/`` initialised; cwd is set to it."""
    from dulwich.repo import Repo as DulwichRepo

    from jupyter_exp.repo import Repo

    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)
    root = tmp_path / "repo"
    root.mkdir()
    DulwichRepo.init(str(root)).close()
    Repo.init(root)
    monkeypatch.chdir(root)
    return root


dvc_repo = git_repo


@dataclass
class CliResult:
    code: int
    out: str
    err: str


CliRunner = Callable[..., CliResult]


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
