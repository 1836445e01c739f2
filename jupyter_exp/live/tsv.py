"""The logger's TSV files (``timestamp<TAB>step<TAB><name>``): readers, whole or incrementally, and the
repairs a resumed run makes (a torn last row cut, the last step found).

Both accept LF and CRLF line endings and the non-finite values the logger writes (``nan``, ``inf``,
``-inf``). The incremental reader lets a live plot poll a file that is still being appended to and
only ever parse the rows it has not seen.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from jupyter_exp.errors import LiveError


class Row(NamedTuple):
    """One logged value: ms since the epoch, step, value."""

    timestamp: int
    step: int
    value: float


class TailChunk(NamedTuple):
    """What :func:`tail_tsv` found: new complete rows, the offset to pass next time, and whether the
    file was replaced by a new run (it got shorter), in which case ``rows`` start from the top again."""

    rows: list[Row]
    offset: int
    restarted: bool


def read_tsv(path: str | os.PathLike[str]) -> list[Row]:
    """All rows of a metric's TSV file, as ``(timestamp, step, value)`` tuples."""
    with open(path, "rb") as fobj:
        data = fobj.read()
    return _parse(data, path, first_byte=0, complete_only=False)


def tail_tsv(path: str | os.PathLike[str], offset: int = 0) -> TailChunk:
    """Rows completed since byte ``offset`` (0 = start, header skipped); a missing file yields none.

    A trailing line without its newline is left for the next call, since the writer may be mid-way.
    """
    try:
        fobj = open(path, "rb")  # noqa: SIM115 - closed below, after the size check
    except FileNotFoundError:
        return TailChunk([], 0, offset > 0)
    with fobj:
        size = os.fstat(fobj.fileno()).st_size
        restarted = size < offset
        if restarted:
            offset = 0
        fobj.seek(offset)
        data = fobj.read()
    end = data.rfind(b"\n") + 1
    if end == 0:
        return TailChunk([], offset, restarted)
    rows = _parse(data[:end], path, first_byte=offset, complete_only=True)
    return TailChunk(rows, offset + end, restarted)


class FolderTail:
    """Follows every metric's TSV under a live folder: each :meth:`read` returns what each one gained.

    A reader in another process (a live plot, a panel) keeps one of these per folder; a metric whose file
    holds a malformed line stops being read and its reason is kept in ``errors``, the others go on.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.errors: dict[str, str] = {}
        self._offsets: dict[str, int] = {}

    def files(self) -> dict[str, Path]:
        """Metric name (``train/loss``) -> TSV path, for every ``*.tsv`` under the folder, sorted."""
        found: dict[str, Path] = {}
        stack = [self.root]
        while stack:
            try:
                entries = list(os.scandir(stack.pop()))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.name.endswith(".tsv"):
                    path = Path(entry.path)
                    found[path.relative_to(self.root).with_suffix("").as_posix()] = path
        return dict(sorted(found.items()))

    def read(self) -> dict[str, TailChunk]:
        """New complete rows per metric since the last call (metrics with nothing new are included)."""
        chunks: dict[str, TailChunk] = {}
        for name, path in self.files().items():
            if name in self.errors:
                continue
            try:
                chunk = tail_tsv(path, self._offsets.get(name, 0))
            except LiveError as err:
                self.errors[name] = str(err)
                continue
            self._offsets[name] = chunk.offset
            chunks[name] = chunk
        return chunks


def _parse(data: bytes, path: str | os.PathLike[str], *, first_byte: int, complete_only: bool) -> list[Row]:
    lines = data.split(b"\n")
    if complete_only or not lines[-1].strip():
        lines.pop()  # the empty string after the final newline (or a half-written line)
    start = 0
    if first_byte == 0 and lines and lines[0].startswith(b"timestamp"):
        start = 1
    rows: list[Row] = []
    append = rows.append
    for index in range(start, len(lines)):
        line = lines[index]
        try:
            stamp, step, value = line.rstrip(b"\r").split(b"\t")
            append(Row(int(stamp), int(step), float(value)))
        except ValueError:
            if not line.strip(b"\r"):
                continue
            where = f"line {index + 1}" if first_byte == 0 else f"a line after byte {first_byte}"
            raise LiveError(
                f"{os.fspath(path)}: {where} is not 'timestamp<TAB>step<TAB>value': {line[:80]!r}"
            ) from None
    return rows


def drop_partial_line(path: str) -> int:
    """Cut a half-written last row (a process killed mid-write) so appended rows start on a new line;
    returns the file's size afterwards (0 when it does not exist)."""
    try:
        with open(path, "rb+") as fobj:
            size = fobj.seek(0, os.SEEK_END)
            if size == 0:
                return 0
            fobj.seek(size - 1)
            if fobj.read(1) == b"\n":
                return size
            block = min(size, 65536)
            fobj.seek(size - block)
            tail = fobj.read(block)
            size = size - block + tail.rfind(b"\n") + 1
            fobj.truncate(size)
            return size
    except FileNotFoundError:
        return 0


def last_logged_step(folder: str) -> int | None:
    """The highest step on the last row of any TSV under ``folder`` (resume without a summary)."""
    best: int | None = None
    for root, _dirs, files in os.walk(folder):
        for file in files:
            if not file.endswith(".tsv"):
                continue
            with open(os.path.join(root, file), "rb") as fobj:
                size = fobj.seek(0, os.SEEK_END)
                fobj.seek(max(0, size - 4096))
                tail = fobj.read()
            complete = tail[: tail.rfind(b"\n") + 1]  # a torn last row does not count
            lines = [line for line in complete.splitlines() if line.strip()]
            if not lines:
                continue
            fields = lines[-1].split(b"\t")
            if len(fields) == 3 and fields[1].strip().isdigit():
                step = int(fields[1])
                best = step if best is None else max(best, step)
    return best
