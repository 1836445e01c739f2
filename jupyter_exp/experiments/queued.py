"""The queue as ``exp show`` and ``exp remove`` read it: entries under ``QUEUE_NAMESPACE``, one commit each.

Kept apart from ``queue.py`` (which runs entries, and so loads the pipeline) so listing the queue costs
one ref pass, not the pipeline's code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jupyter_exp.experiments.refs import CELERY_NAMESPACE
from jupyter_exp.protocol import pid_alive
from jupyter_exp.scm.git import Git

QUEUE_NAMESPACE = f"{CELERY_NAMESPACE}/jupyter-exp"
_TITLE = "jupyter-exp: queued experiment"
_STATES = ("queued", "failed")
RUNS_DIR = Path(".dvc", "tmp", "jupyter-exp", "queue")
WORKER_PID = "worker.pid"


@dataclass(frozen=True)
class QueueEntry:
    """One experiment waiting in the queue (or failed there)."""

    id: str  # the queued commit
    rev: str  # what the entry's ref points at: the queued commit, or the record of its failure
    baseline: str
    created: datetime
    order: int  # queue time in ns: run order
    name: str | None = None
    targets: tuple[str, ...] = ()
    force: bool = False
    params: tuple[str, ...] = ()
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def label(self) -> str:
        """The name given with ``-n``, else the short sha (as DVC 2.0 names queued experiments)."""
        return self.name or self.id[:7]

    @property
    def ref(self) -> str:
        return f"{QUEUE_NAMESPACE}/{'failed' if self.failed else 'queued'}/{self.id}"

    def matches(self, name: str) -> bool:
        return name in (self.name, self.label, self.id, self.ref) or (
            len(name) >= 7 and self.id.startswith(name)
        )


def entry_message(meta: Mapping[str, Any]) -> str:
    return f"{_TITLE}\n\n{json.dumps(meta, sort_keys=True)}\n"


def entry_meta(message: str) -> dict[str, Any] | None:
    title, _, body = message.partition("\n\n")
    if title.strip() != _TITLE:
        return None
    try:
        meta = json.loads(body)
    except ValueError:
        return None
    return meta if isinstance(meta, dict) else None


def entries(git: Git) -> list[QueueEntry]:
    """Every queue entry (queued and failed), oldest first."""
    found = []
    for ref, sha in git.refs(QUEUE_NAMESPACE).items():
        state, _, entry_id = ref[len(QUEUE_NAMESPACE) + 1 :].partition("/")
        if state not in _STATES or not entry_id or "/" in entry_id:
            continue
        info = git.commit_info(sha)
        meta = entry_meta(info.message)
        if meta is None or not info.parents:
            continue
        error = (meta.get("error") or "failed") if state == "failed" else None
        found.append(
            QueueEntry(
                id=entry_id,
                rev=sha,
                baseline=info.parents[0],
                created=info.time,
                order=int(meta.get("order") or 0),
                name=meta.get("name"),
                targets=tuple(meta.get("targets") or ()),
                force=bool(meta.get("force")),
                params=tuple(meta.get("params") or ()),
                error=error,
            )
        )
    found.sort(key=lambda entry: (entry.order, entry.id))
    return found


def running_workspaces(git: Git) -> dict[str, Path]:
    """Queue entry id -> the workspace its local worker is running it in now (a worker that started and
    has not written its result), so ``exp show`` can show the metrics the run has logged so far."""
    runs_dir = git.root / RUNS_DIR
    found: dict[str, Path] = {}
    if not runs_dir.is_dir():
        return found
    for workdir in runs_dir.iterdir():
        try:
            spec = json.loads((workdir / "spec.json").read_text())
            worker = int((workdir / WORKER_PID).read_text())
        except (OSError, ValueError):  # not a run's folder, or its worker not started yet
            continue
        entry = spec.get("entry") if isinstance(spec, dict) else None
        if isinstance(entry, str) and pid_alive(worker) and not (workdir / "result.json").exists():
            found[entry] = workdir / "ws"
    return found
