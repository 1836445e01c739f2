"""``exp list``, ``exp remove``, ``exp gc``, ``exp push`` and ``exp pull``: experiment refs as a set."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from jupyter_exp.errors import ExperimentError
from jupyter_exp.experiments import queue as exp_queue
from jupyter_exp.experiments.refs import EXEC_APPLY, EXEC_CHECKPOINT, ExpRef, exp_refs, find
from jupyter_exp.experiments.show import describe
from jupyter_exp.scm.git import Git


def list_experiments(
    git: Git, rev: str | None = None, *, all_baselines: bool = False
) -> dict[str, list[str]]:
    """Baseline name -> experiment names (of HEAD, of ``rev``, or of every baseline with ``all_baselines``)."""
    refs = exp_refs(git)
    wanted = None if all_baselines else git.resolve(rev or "HEAD")
    by_baseline: dict[str, list[str]] = {}
    for info in sorted(refs, key=lambda i: (i.baseline, i.name)):
        if wanted is None or info.baseline == wanted:
            by_baseline.setdefault(info.baseline, []).append(info.name)
    names = describe(git, by_baseline)
    return {names[sha]: exps for sha, exps in by_baseline.items()}


def _drop(git: Git, infos: Iterable[ExpRef], refs: dict[ExpRef, str]) -> list[str]:
    removed = []
    tips = set()
    for info in infos:
        tips.add(refs[info])
        git.delete_ref(str(info))
        removed.append(info.name)
    for special in (EXEC_APPLY, EXEC_CHECKPOINT):
        if git.get_ref(special) in tips:
            git.delete_ref(special)
    return removed


def remove(
    git: Git,
    names: Iterable[str] = (),
    *,
    rev: str | None = None,
    all_commits: bool = False,
    queue: bool = False,
) -> list[str]:
    """Delete experiments by name (queued ones too), all those based on ``rev``, all of them, or the
    whole queue (queued and failed entries); returns the names removed."""
    refs = exp_refs(git)
    queued = exp_queue.entries(git) if queue or names else []
    chosen: list[ExpRef] = list(refs) if all_commits else []
    dequeued = list(queued) if queue else []
    if rev is not None:
        baseline = git.resolve(rev)
        chosen += [info for info in refs if info.baseline == baseline]
    missing = []
    for name in names:
        found = find(git, name, refs=refs)
        entries = [entry for entry in queued if entry.matches(name)]
        if found is not None:
            chosen.append(found[0])
        elif entries:
            dequeued += entries
        else:
            missing.append(name)
    if missing:
        raise ExperimentError(f"Experiment(s) not found: {', '.join(missing)}")
    return _drop(git, dict.fromkeys(chosen), refs) + exp_queue.remove_entries(git, dict.fromkeys(dequeued))


def gc_candidates(
    git: Git,
    *,
    workspace: bool = False,
    all_branches: bool = False,
    all_tags: bool = False,
    all_commits: bool = False,
) -> list[ExpRef]:
    """Experiments whose baseline is not among the kept commits (HEAD is always kept)."""
    if not (workspace or all_branches or all_tags or all_commits):
        raise ExperimentError(
            "Either of `-w|--workspace`, `-a|--all-branches`, `-T|--all-tags` or `--all-commits` needs to be set."
        )
    keep = {git.head()}
    if all_branches:
        keep.update(git.branches().values())
    if all_tags:
        keep.update(git.tags().values())
    if all_commits:
        keep.update(git.all_commits())
    return [info for info in exp_refs(git) if info.baseline not in keep]


def gc(
    git: Git,
    *,
    workspace: bool = False,
    all_branches: bool = False,
    all_tags: bool = False,
    all_commits: bool = False,
    queued: bool = False,
    confirm: Callable[[str], bool] | None = None,
) -> list[str]:
    """Remove the experiments :func:`gc_candidates` finds and, unless ``queued``, the queue (as DVC does),
    after ``confirm(question)`` when given."""
    doomed = gc_candidates(
        git, workspace=workspace, all_branches=all_branches, all_tags=all_tags, all_commits=all_commits
    )
    dequeued = [] if queued else exp_queue.entries(git)
    if not doomed and not dequeued:
        return []
    question = (
        "This will remove all experiments except those derived from the workspace"
        f"{' and all git branches' if all_branches else ''}{' and all git tags' if all_tags else ''}"
        f"{' and all git commits' if all_commits else ''} of the current repo."
        f" Run queued experiments will be {'preserved' if queued else 'removed'}. Are you sure?"
    )
    if confirm is not None and not confirm(question):
        return []
    return _drop(git, doomed, exp_refs(git)) + exp_queue.remove_entries(git, dequeued)


def push(
    git: Git, remote: str, names: Iterable[str] = (), *, all_exps: bool = False, force: bool = False
) -> list[str]:
    """Push experiment refs (and the commits they need) to a Git remote; returns the refs pushed."""
    refs = exp_refs(git)
    if all_exps:
        chosen = list(refs)
    else:
        chosen = []
        for name in names:
            found = find(git, name, refs=refs)
            if found is None:
                raise ExperimentError(f"Experiment '{name}' does not exist")
            chosen.append(found[0])
    pushed = [str(info) for info in chosen]
    git.push_refs(remote, pushed, force=force)
    return pushed


def pull(
    git: Git, remote: str, names: Iterable[str] = (), *, all_exps: bool = False, force: bool = False
) -> list[str]:
    """Fetch experiment refs from a Git remote by name (or all); returns the refs fetched."""
    wanted = set(names)

    def select(ref: str) -> bool:
        info = ExpRef.parse(ref)
        return info is not None and (all_exps or info.name in wanted or ref in wanted)

    fetched = git.fetch_refs(remote, select, force=force)
    missing = [n for n in wanted if not any(ref.endswith("/" + n) or ref == n for ref in fetched)]
    if missing and not all_exps:
        raise ExperimentError(f"Experiment(s) not found on remote '{remote}': {', '.join(sorted(missing))}")
    return sorted(fetched)
