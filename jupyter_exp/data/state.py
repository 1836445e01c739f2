"""The state db: remembers hashes so an unchanged dataset is never read twice.

A SQLite file under ``<repo>/.dvc/tmp/`` with a name of our own, so DVC's own state and ours
coexist. Files are keyed by inode and trusted while (mtime_ns, size) match, as DVC does;
directories are keyed by a fingerprint of all their files' stats, and the manifest rows of each
folder without subfolders by that folder's listing key (see ``listing.py``); a tree the daemon
watches keeps the summary of its folders (``watch.py``); notebooks' code
hashes are kept by file md5 (``pipeline/notebook.py``). WAL mode lets a notebook
kernel and a CLI share it; writes are grouped into one transaction per batch.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

STATE_FILE = "jupyter-exp-state.sqlite"
SCHEMA_VERSION = 3
# Stay under SQLite's oldest default limit on bound parameters (999).
_MAX_PARAMS = 900


# A watched tree's folder summary (``listing.summarize``), valid for the daemon watcher that vouched for it.
_TREES_TABLE = (
    "CREATE TABLE IF NOT EXISTS trees (tree TEXT PRIMARY KEY, watcher TEXT NOT NULL,"
    " clock INTEGER NOT NULL, summary BLOB NOT NULL)"
)


def _sql_int(value: int) -> int:
    """Inodes are unsigned 64-bit; SQLite integers are signed."""
    return value - (1 << 64) if value >= (1 << 63) else value


class StateDB:
    """Hash memo for one repository. Use :meth:`batch` to group writes into one transaction."""

    def __init__(self, repo_root: str | os.PathLike[str], path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else Path(repo_root) / ".dvc" / "tmp" / STATE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._depth = 0
        self._setup()

    def _setup(self) -> None:
        conn = self._conn
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            conn.execute(_TREES_TABLE)  # added within version 3: older state files gain it
            return
        with self.batch():  # re-checked inside: another process may have just created it
            if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                conn.execute("DROP TABLE IF EXISTS files")
                conn.execute("DROP TABLE IF EXISTS dirs")
                conn.execute("DROP TABLE IF EXISTS notebooks")
                conn.execute("DROP TABLE IF EXISTS listings")
                conn.execute(
                    "CREATE TABLE files (inode INTEGER PRIMARY KEY, mtime_ns INTEGER NOT NULL,"
                    " size INTEGER NOT NULL, md5 TEXT NOT NULL)"
                )
                conn.execute(
                    "CREATE TABLE dirs (fingerprint TEXT PRIMARY KEY, md5 TEXT NOT NULL,"
                    " size INTEGER NOT NULL, nfiles INTEGER NOT NULL)"
                )
                conn.execute("CREATE TABLE notebooks (md5 TEXT PRIMARY KEY, code TEXT NOT NULL)")
                conn.execute("CREATE TABLE listings (key TEXT PRIMARY KEY, text BLOB NOT NULL)")
                conn.execute(_TREES_TABLE)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        self._conn.close()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for everything inside (nested batches join the outer one)."""
        if self._depth == 0:
            self._conn.execute("BEGIN IMMEDIATE")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self._conn.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            self._conn.execute("COMMIT")

    def get_files(self, keys: Iterable[tuple[int, int, int]]) -> dict[int, str]:
        """md5 by inode for each (inode, mtime_ns, size) whose stored stats still match.

        ``keys`` is consumed a query's worth at a time, so a million files never sit in one mapping."""
        found: dict[int, str] = {}
        keys = iter(keys)
        while chunk := list(itertools.islice(keys, _MAX_PARAMS)):
            wanted = {_sql_int(inode): (inode, mtime_ns, size) for inode, mtime_ns, size in chunk}
            marks = ",".join("?" * len(wanted))
            rows = self._conn.execute(
                f"SELECT inode, mtime_ns, size, md5 FROM files WHERE inode IN ({marks})", list(wanted)
            )
            for inode, mtime_ns, size, md5 in rows:
                real_inode, want_mtime, want_size = wanted[inode]
                if mtime_ns == want_mtime and size == want_size:
                    found[real_inode] = md5
        return found

    def put_files(self, rows: Iterable[tuple[int, int, int, str]]) -> None:
        """Store (inode, mtime_ns, size, md5) rows."""
        values = [(_sql_int(inode), mtime_ns, size, md5) for inode, mtime_ns, size, md5 in rows]
        if values:
            with self.batch():
                self._conn.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)", values)

    def get_dir(self, fingerprint: str) -> tuple[str, int, int] | None:
        """(md5, size, nfiles) of the directory state with this fingerprint, if seen before."""
        row = self._conn.execute(
            "SELECT md5, size, nfiles FROM dirs WHERE fingerprint = ?", (fingerprint,)
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def put_dir(self, fingerprint: str, md5: str, size: int, nfiles: int) -> None:
        with self.batch():
            self._conn.execute(
                "INSERT OR REPLACE INTO dirs VALUES (?, ?, ?, ?)", (fingerprint, md5, size, nfiles)
            )

    def get_notebook_code(self, md5: str) -> str | None:
        """The code hash of the notebook whose file md5 is ``md5``, if it was seen."""
        row = self._conn.execute("SELECT code FROM notebooks WHERE md5 = ?", (md5,)).fetchone()
        return None if row is None else row[0]

    def put_notebook_code(self, md5: str, code: str) -> None:
        with self.batch():
            self._conn.execute("INSERT OR REPLACE INTO notebooks VALUES (?, ?)", (md5, code))

    def get_tree(self, tree: str) -> tuple[str, int, bytes] | None:
        """(watcher id, clock, summary) stored for ``tree``, if any."""
        row = self._conn.execute("SELECT watcher, clock, summary FROM trees WHERE tree = ?", (tree,)).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def put_tree(self, tree: str, watcher: str, clock: int, summary: bytes) -> None:
        with self.batch():
            self._conn.execute("INSERT OR REPLACE INTO trees VALUES (?, ?, ?, ?)", (tree, watcher, clock, summary))

    def get_listings(self, keys: Sequence[str]) -> dict[str, bytes]:
        """Remembered manifest rows by folder listing key, for the keys seen before."""
        found: dict[str, bytes] = {}
        for start in range(0, len(keys), _MAX_PARAMS):
            chunk = list(keys[start : start + _MAX_PARAMS])
            marks = ",".join("?" * len(chunk))
            found.update(self._conn.execute(f"SELECT key, text FROM listings WHERE key IN ({marks})", chunk))
        return found

    def put_listings(self, rows: Iterable[tuple[str, bytes]]) -> None:
        values = list(rows)
        if values:
            with self.batch():
                self._conn.executemany("INSERT OR REPLACE INTO listings VALUES (?, ?)", values)
