"""``exp show``: the workspace, each baseline, and its experiments and checkpoint chains as table rows.

One pass over ``refs/exps``; each commit's data comes from the per-sha cache; nothing is checked out.
Checkpoint chains are drawn as the DVC 2.0 release draws them: the tip ``│ ╓``, older checkpoints
``│ ╟``, the first ``├─╨``; a chain that continues another experiment's checkpoint (a modified resume)
ends on ``│ ╟ <sha> (<parent>)`` instead. Queued experiments are marked ``*`` as in the release
(``├── *4d6e6a7``), created at their queue time, with their params and no metrics; one a worker is
running now is marked ``(running)`` and shows the metrics its workspace holds so far (the live logger's
summary, a metrics file the stage rewrites), so a front end that polls sees them change.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from jupyter_exp.errors import ExperimentError, JupyterExpError, SCMError
from jupyter_exp.experiments.collect import Collector, RevData
from jupyter_exp.experiments.queued import QueueEntry, entries, running_workspaces
from jupyter_exp.experiments.refs import ExpRef, exp_refs
from jupyter_exp.experiments.studies import best_trials
from jupyter_exp.experiments.table import ExpRow, ExpTable
from jupyter_exp.fsutil import WorkspaceTree
from jupyter_exp.scm.git import Git


@dataclass
class ShowOptions:
    revs: list[str] | None = None
    num: int = 1
    all_branches: bool = False
    all_tags: bool = False
    all_commits: bool = False
    include_params: list[str] | None = None
    exclude_params: list[str] | None = None
    include_metrics: list[str] | None = None
    exclude_metrics: list[str] | None = None
    sort_by: str | None = None
    sort_order: str = "asc"
    only_changed: bool = False
    hide_workspace: bool = False


@functools.lru_cache(maxsize=64)
def _timezone(offset: int) -> timezone:
    return timezone(timedelta(seconds=offset))


def _created(data: RevData) -> datetime | None:
    if data.time is None:
        return None
    return datetime.fromtimestamp(data.time, _timezone(data.tz))


def baselines(git: Git, opts: ShowOptions) -> list[str]:
    """Baseline commits in display order: the given revs (default HEAD) and their ``num`` ancestors, etc."""
    found: dict[str, None] = {}
    for rev in opts.revs or (
        ["HEAD"] if not (opts.all_branches or opts.all_tags or opts.all_commits) else []
    ):
        sha = git.resolve(rev)
        for i, ancestor in enumerate(git.ancestors(sha)):
            if i >= max(opts.num, 1):
                break
            found.setdefault(ancestor, None)
    if opts.all_branches:
        found.update(dict.fromkeys(git.branches().values()))
    if opts.all_tags:
        found.update(dict.fromkeys(git.tags().values()))
    if opts.all_commits:
        found.update(dict.fromkeys(git.all_commits()))
    return list(found)


def describe(git: Git, shas: Iterable[str]) -> dict[str, str]:
    """Names for baselines as DVC prints them: the current branch, else a tag, else a branch."""
    head_branch = git.branch()
    try:
        head = git.head()
    except SCMError:  # an empty repository has no HEAD commit
        head = None
    tags: dict[str, str] = {}
    for name, sha in git.tags().items():
        tags.setdefault(sha, name)
    branches: dict[str, str] = {}
    for name, sha in sorted(git.branches().items()):
        branches.setdefault(sha, name)
    names = {}
    for sha in shas:
        if sha == head and head_branch:
            names[sha] = head_branch
        else:
            names[sha] = tags.get(sha) or branches.get(sha) or sha[:7]
    return names


def _chains(
    refs: dict[ExpRef, str], baseline: str, collector: Collector
) -> list[tuple[ExpRef, list[str], int]]:
    """Each experiment's own commits (tip first) and its full length to the baseline.

    A commit on two chains (a modified checkpoint experiment continues another one) belongs to the
    shorter chain, the one it was first committed on.
    """
    full: list[tuple[ExpRef, list[str]]] = []
    for info, tip in refs.items():
        if info.baseline != baseline:
            continue
        chain = []
        current: str | None = tip
        while current is not None and current != baseline:
            chain.append(current)
            parents = collector.commit(current).parents
            current = parents[0] if parents else None
        full.append((info, chain or [tip]))
    full.sort(key=lambda item: (len(item[1]), collector.commit(item[1][0]).time or 0, item[1][0]))
    claimed: set[str] = set()
    chains = []
    for info, chain in full:
        own = []
        for sha in chain:
            if sha in claimed:
                break
            own.append(sha)
        own = own or chain[:1]  # the same commit as another experiment: show it anyway
        claimed.update(own)
        chains.append((info, own, len(chain)))
    return chains


def _rows_for_baseline(
    baseline: str, refs: dict[ExpRef, str], collector: Collector
) -> list[tuple[tuple[Any, ...], list[ExpRow]]]:
    """Experiment groups (sort key, rows) of one baseline, newest first."""
    groups = []
    for info, chain, length in _chains(refs, baseline, collector):
        tip_data = collector.commit(chain[0])
        rows = []
        checkpoint = len(chain) > 1 or tip_data.parents[:1] != [baseline]
        for i, sha in enumerate(chain):
            data = tip_data if i == 0 else collector.commit(sha)
            parent = data.parents[0] if data.parents else None
            label = info.name if i == 0 else sha[:7]
            last = i == len(chain) - 1
            if checkpoint:
                if last and parent == baseline:
                    glyph = "├─╨ " if len(chain) > 1 else "├── "
                else:
                    glyph = "│ ╓ " if i == 0 else "│ ╟ "
                if last and parent != baseline and parent:
                    label += f" ({parent[:7]})"
            else:
                glyph = "├── "
            rows.append(
                ExpRow(
                    rev=sha,
                    name=info.name if i == 0 else None,
                    kind="experiment" if i == 0 else "checkpoint",
                    baseline=baseline,
                    parent=parent,
                    created=_created(data),
                    params=data.params,
                    metrics=data.metrics,
                    glyph=glyph,
                    label=label,
                    checkpoint_tip=chain[0] if checkpoint else None,
                    error=data.error,
                )
            )
        groups.append(((tip_data.time or 0, length, chain[0]), rows))
    groups.sort(key=lambda group: group[0], reverse=True)
    return groups


def _live_metrics(workspace: Path, collector: Collector) -> dict[str, dict[str, Any]]:
    """The metrics a running experiment's workspace holds now. Its stage is writing them, so a file caught
    half written (or the workspace removed as the run ends) leaves that metric out until the next look."""
    try:
        return collector.read(WorkspaceTree(workspace)).metrics
    except (OSError, JupyterExpError):
        return {}


def _queued_groups(
    baseline: str, queued: list[QueueEntry], running: dict[str, Path], collector: Collector
) -> list[tuple[tuple[Any, ...], list[ExpRow]]]:
    """A one-row group per queue entry of ``baseline``: params of the queued commit, and no metrics yet
    unless a worker runs it (``running``: entry id -> its workspace)."""
    groups = []
    for entry in queued:
        if entry.baseline != baseline:
            continue
        workspace = running.get(entry.id)
        state = " (failed)" if entry.failed else " (running)" if workspace else ""
        row = ExpRow(
            rev=entry.id,
            name=entry.name,
            kind="queued",
            baseline=baseline,
            parent=baseline,
            created=entry.created,
            params=collector.commit(entry.id).params,
            metrics=_live_metrics(workspace, collector) if workspace else {},
            glyph="├── ",
            label=f"*{entry.label}{state}",
            error=entry.error,
            running=workspace is not None,
        )
        groups.append(((entry.created.timestamp(), 1, entry.id), [row]))
    return groups


def _matches(patterns: list[str], path: str, key: str) -> bool:
    return any(fnmatch.fnmatchcase(key, p) or fnmatch.fnmatchcase(f"{path}:{key}", p) for p in patterns)


def _filter(values: dict[str, dict[str, Any]], include: list[str] | None, exclude: list[str] | None) -> dict:
    if not include and not exclude:
        return values  # shared with the collector's rows: never changed in place (see _drop_unchanged)
    result = {}
    for path, flat in values.items():
        kept = {
            k: v
            for k, v in flat.items()
            if (not include or _matches(include, path, k)) and not (exclude and _matches(exclude, path, k))
        }
        if kept or not flat:
            result[path] = kept
    return result


def _sort_value(row: ExpRow, sort_by: str) -> Any:
    for attr in ("metrics", "params"):
        for path, flat in getattr(row, attr).items():
            if sort_by in (f"{path}:{k}" for k in flat):
                return flat[sort_by.split(":", 1)[1]]
        for flat in getattr(row, attr).values():
            if sort_by in flat:
                return flat[sort_by]
    return None


def _sort_groups(
    groups: list[tuple[Any, list[ExpRow]]], sort_by: str, order: str
) -> list[tuple[Any, list[ExpRow]]]:
    known = [g for g in groups if _sort_value(g[1][0], sort_by) is not None]
    unknown = [g for g in groups if _sort_value(g[1][0], sort_by) is None]
    try:
        known.sort(key=lambda g: _sort_value(g[1][0], sort_by), reverse=order == "desc")
    except TypeError as exc:
        raise ExperimentError(f"Cannot sort by '{sort_by}': its values are not comparable") from exc
    return known + unknown


def _drop_unchanged(rows: list[ExpRow]) -> None:
    """Leave out the columns with one value in every row; each row gets new dicts, as its own may be the
    collector's (read once per commit and shared)."""
    for attr in ("metrics", "params"):
        columns: dict[tuple[str, str], set[str]] = {}
        for row in rows:
            for path, flat in getattr(row, attr).items():
                for key, value in flat.items():
                    columns.setdefault((path, key), set()).add(repr(value))
        same = set()
        for (path, key), values in columns.items():
            present = sum(1 for row in rows if key in getattr(row, attr).get(path, {}))
            if len(values) == 1 and present == len(rows):
                same.add((path, key))
        for row in rows:
            values = {
                path: {k: v for k, v in flat.items() if (path, k) not in same}
                for path, flat in getattr(row, attr).items()
            }
            setattr(row, attr, values)


def show(git: Git, collector: Collector, opts: ShowOptions | None = None) -> ExpTable:
    """Build the ``exp show`` table."""
    opts = opts or ShowOptions()
    rows: list[ExpRow] = []
    if not opts.hide_workspace:
        data = collector.read(WorkspaceTree(git.root))
        rows.append(
            ExpRow(
                "workspace",
                None,
                "workspace",
                None,
                None,
                None,
                data.params,
                data.metrics,
                "",
                "workspace",
                error=data.error,
            )
        )
    try:
        git.head()
    except SCMError:  # no commits yet: only the workspace can be shown
        return ExpTable(rows, root=str(git.root))
    shas = baselines(git, opts)
    names = describe(git, shas)
    refs = exp_refs(git)
    queued = entries(git)
    running = running_workspaces(git) if queued else {}
    for baseline in shas:
        data = collector.commit(baseline)
        rows.append(
            ExpRow(
                baseline,
                names[baseline],
                "baseline",
                baseline,
                data.parents[0] if data.parents else None,
                _created(data),
                data.params,
                data.metrics,
                "",
                names[baseline],
                error=data.error,
            )
        )
        groups = _rows_for_baseline(baseline, refs, collector)
        if queued:
            groups += _queued_groups(baseline, queued, running, collector)
            groups.sort(key=lambda group: group[0], reverse=True)
        if opts.sort_by:
            groups = _sort_groups(groups, opts.sort_by, opts.sort_order)
        for index, (_, group_rows) in enumerate(groups):
            if index == len(groups) - 1 and group_rows[0].glyph == "├── " and len(group_rows) == 1:
                group_rows[0].glyph = "└── "
            rows.extend(group_rows)
    collector.save()
    if opts.sort_by and rows and all(_sort_value(row, opts.sort_by) is None for row in rows):
        raise ExperimentError(f"Unknown sort column '{opts.sort_by}': name a param or metric, e.g. 'train.lr'")
    for row in rows:
        row.params = _filter(row.params, opts.include_params, opts.exclude_params)
        row.metrics = _filter(row.metrics, opts.include_metrics, opts.exclude_metrics)
    if opts.only_changed:
        _drop_unchanged(rows)
    best = best_trials(git.root)
    for row in rows:
        if row.kind == "experiment":
            row.best_of = best.get(row.rev)
    return ExpTable(rows, root=str(git.root))


def running_rows(git: Git, collector: Collector) -> ExpTable:
    """Only the rows of the entries a worker runs now, as ``show`` draws them: what a front end re-reads
    every second while the queue runs (a few files per run, not the whole table)."""
    running = running_workspaces(git)
    queued = [entry for entry in entries(git) if entry.id in running]
    rows = [
        row
        for baseline in dict.fromkeys(entry.baseline for entry in queued)
        for _, group in _queued_groups(baseline, queued, running, collector)
        for row in group
    ]
    collector.save()
    return ExpTable(rows, root=str(git.root))
