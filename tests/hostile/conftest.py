"""Hostile inputs: every case must end in a clear error (or correct behaviour), never a traceback or a hang,
and must touch nothing outside the repository and lose no user file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hostile import snapshot


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Path]:
    """A directory beside the repository holding a user's file; the test fails if anything there changes."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "keep.txt").write_text("user data\n")
    before = snapshot(tmp_path / "elsewhere")
    yield folder
    assert snapshot(folder) == before, "a file outside the repository was touched"


class Hung(Exception):
    pass


@pytest.fixture(autouse=True)
def no_hang() -> Iterator[None]:
    """A case that does not finish in 120 s fails (the absolute-output bug spun forever)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():  # signals only reach the main thread
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise Hung("the command did not finish in 120 s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)
