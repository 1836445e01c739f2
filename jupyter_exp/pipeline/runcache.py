"""The run cache: earlier runs keyed by (cmd, deps, params), so a matching run restores outputs instead.

Entries live under ``.dvc/cache/runs/<key[:2]>/<key>/<value>`` as DVC lays its run cache out; each file
holds the full lock entry (with outs) of one successful run.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from jupyter_exp.fsutil import atomic_write_text


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


class RunCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _dir(self, key_entry: dict[str, Any]) -> Path:
        key = _digest(key_entry)
        return self.directory / key[:2] / key

    def lookup(self, key_entry: dict[str, Any]) -> dict[str, Any] | None:
        """The newest recorded run for these cmd/deps/params, or None."""
        directory = self._dir(key_entry)
        try:
            files = sorted(directory.iterdir(), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        except FileNotFoundError:
            return None
        for file in files:
            try:
                entry = yaml.safe_load(file.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError):
                continue
            if isinstance(entry, dict) and entry.get("cmd") == key_entry.get("cmd"):
                return entry
        return None

    def save(self, key_entry: dict[str, Any], entry: dict[str, Any]) -> None:
        path = self._dir(key_entry) / _digest(entry)
        if not path.exists():
            atomic_write_text(path, json.dumps(entry))  # JSON is YAML to readers, at a fraction of the dump cost
