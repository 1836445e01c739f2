"""Hostile-input suite: helpers shared by its modules (fixtures are in ``conftest.py``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def snapshot(root: Path) -> dict[str, float]:
    """Every file below ``root`` (not following symlinks) with its mtime, to see what a command touched."""
    found: dict[str, float] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            found[os.path.relpath(path, root)] = os.lstat(path).st_mtime_ns
    return found


def refused(result: Any, *needles: str) -> str:
    """A clean refusal: non-zero exit, no traceback, and the message names what was wrong."""
    text = result.out + result.err
    assert result.code != 0, f"accepted:\n{text}"
    assert "Traceback" not in text, text
    for needle in needles:
        assert needle in text, f"{needle!r} not in:\n{text}"
    return text
