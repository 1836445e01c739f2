"""Every live test runs in its own temporary folder, without the DVCLive variables a surrounding
``dvc exp run`` (or a stage's ``live:`` section) sets, so a test sees only what it configures itself."""

from __future__ import annotations

from pathlib import Path

import pytest

ENV_VARS = ("DVCLIVE_PATH", "DVCLIVE_SUMMARY", "DVCLIVE_HTML", "DVCLIVE_REPORT", "DVCLIVE_RESUME", "DVC_CHECKPOINT")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
