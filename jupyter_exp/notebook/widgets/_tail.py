"""Follow the live logger's TSV files by byte offset, so each poll reads only what was appended.

Layout (``jupyter_exp.live``, DVC 2.0 ``live:``): ``<dir>/<name>.tsv`` with header
``timestamp<TAB>step<TAB><name>``; nested names such as ``train/loss`` live in sub-folders.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TsvTail:
    """Reads the complete lines appended to one TSV file since the previous call.

    A half-written last line stays unread until its newline arrives. A file that shrank or was
    replaced (new inode) is read again from the start and reported as ``reset``.
    """

    path: Path
    offset: int = 0
    inode: int | None = None
    header: list[str] | None = None
    _rows_seen: int = field(default=0, repr=False)

    def read_new(self) -> tuple[bool, list[tuple[float, float]]]:
        """Return ``(reset, [(step, value), ...])`` for the lines added since the last call."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return False, []
        reset = False
        if stat.st_size < self.offset or (self.inode is not None and stat.st_ino != self.inode):
            self.offset, self.header, self._rows_seen, reset = 0, None, 0, True
        self.inode = stat.st_ino
        if stat.st_size == self.offset:
            return reset, []
        with open(self.path, "rb") as fobj:
            fobj.seek(self.offset)
            chunk = fobj.read(stat.st_size - self.offset)
        end = chunk.rfind(b"\n")
        if end < 0:
            return reset, []
        self.offset += end + 1
        points = []
        for raw in chunk[:end].split(b"\n"):
            line = raw.decode("utf-8", errors="replace").rstrip("\r")
            if not line:
                continue
            cells = line.split("\t")
            if self.header is None:
                self.header = cells
                continue
            point = self._parse(cells)
            if point is not None:
                points.append(point)
        return reset, points

    def _parse(self, cells: list[str]) -> tuple[float, float] | None:
        """``(step, value)`` of one data line; the row index stands in for a missing step."""
        self._rows_seen += 1
        try:
            value = float(cells[-1])
        except ValueError:
            return None
        if not math.isfinite(value):
            return None
        step: float = self._rows_seen - 1
        if len(cells) >= 3 and cells[1].strip():
            with contextlib.suppress(ValueError):
                step = float(cells[1])
        return step, value


def scan_tsv_files(root: Path) -> dict[str, Path]:
    """Metric name (``train/loss``) -> TSV path, for every ``*.tsv`` under ``root``."""
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    stack = [root]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.name.endswith(".tsv"):
                path = Path(entry.path)
                found[path.relative_to(root).with_suffix("").as_posix()] = path
    return dict(sorted(found.items()))
