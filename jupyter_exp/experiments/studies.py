"""The summaries ``exp sweep`` leaves (one JSON file per Optuna study), as ``exp show`` reads them to mark
each study's best trial; apart from ``sweep.py`` so the table does not load the code that runs a sweep."""

from __future__ import annotations

import json
from pathlib import Path

SWEEPS_DIR = Path(".dvc", "tmp", "jupyter-exp", "sweeps")


def best_trials(root: Path) -> dict[str, str]:
    """Experiment commit -> the study it is the best trial of, from the sweep summaries."""
    marked: dict[str, str] = {}
    folder = root / SWEEPS_DIR
    if not folder.is_dir():
        return marked
    for path in sorted(folder.glob("*.json")):
        try:
            best = (json.loads(path.read_text()) or {}).get("best") or {}
        except (OSError, ValueError):
            continue
        if best.get("rev"):
            marked[best["rev"]] = path.stem
    return marked
