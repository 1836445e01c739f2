"""Real Git repositories made with the ``git`` CLI, so what dulwich writes is checked by Git itself."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, git_identity: None) -> Path:
    """A ``main`` branch with one commit: ``.gitignore``, ``params.yaml``, ``src/train.py``."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / ".gitignore").write_text("*.log\n/build/\n")
    (root / "params.yaml").write_text("lr: 0.1\n")
    (root / "src").mkdir()
    (root / "src" / "train.py").write_text("print('hi')\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    return root
