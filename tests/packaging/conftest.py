"""The built distributions, once per session: what `pip install jupyter-exp` would download."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def build(kind: str, source: Path, out: Path, env: dict[str, str] | None = None) -> Path:
    """``python -m build --<kind>`` of ``source`` without isolation (this venv has the build requirements, so
    no download), into ``out``; returns the one file built."""
    subprocess.run(
        [sys.executable, "-m", "build", f"--{kind}", "--no-isolation", "--outdir", str(out), str(source)],
        check=True, capture_output=True, env=env or os.environ.copy(),
    )
    (built,) = out.iterdir()
    return built


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build("wheel", ROOT, tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build("sdist", ROOT, tmp_path_factory.mktemp("sdist"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every packaging test on one xdist worker (``--dist loadgroup``): two builds of one source tree at
    once break each other, and the session's wheel and sdist are then built once."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.xdist_group("packaging"))
