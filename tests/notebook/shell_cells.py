"""The magics' test bench: a real IPython ``InteractiveShell`` with the extension loaded, and cells run in it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from dulwich import porcelain


@pytest.fixture(scope="session")
def shell() -> Any:
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "jupyter_exp")
    return ip


@dataclass
class Cell:
    success: bool
    error: BaseException | None
    stdout: str
    stderr: str
    outputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Everything a reader of the cell sees as text."""
        shown = [o.get("text/plain", "") for o in self.outputs]
        return "\n".join([self.stdout, self.stderr, *shown])


def run(shell: Any, source: str) -> Cell:
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        result = shell.run_cell(source)
    return Cell(
        result.success,
        result.error_in_exec or result.error_before_exec,
        captured.stdout,
        captured.stderr,
        [o.data for o in captured.outputs],
    )


def commit_all(root: Path, message: str = "baseline") -> None:
    porcelain.add(str(root))
    porcelain.commit(str(root), message=message.encode(), author=b"T <t@e.com>", committer=b"T <t@e.com>")


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if ".git" not in p.parts}



@pytest.fixture(autouse=True)
def restore_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run magics put the kernel's interpreter first on PATH for stage commands; undo it after each test."""
    monkeypatch.setenv("PATH", os.environ.get("PATH", ""))
