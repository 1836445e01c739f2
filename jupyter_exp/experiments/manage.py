"""``exp list``, ``exp remove``, ``exp gc``, ``exp push`` and ``exp pull``: experiment refs as a set.

With a default data remote configured, ``exp push``/``exp pull`` carry the experiments' cached outputs
(every checkpoint's too) to and from it, as DVC 2.0 does; a clone can then ``exp apply`` them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from jupyter_exp.errors import ExperimentError, JupyterExpError
from jupyter_exp.experiments import queue as exp_queue
from jupyter_exp.experiments.refs import EXEC_APPLY, EXEC_CHECKPOINT, ExpRef, exp_refs, find
from jupyter_exp.experiments.show import describe
from jupyter_exp.fsutil import TreeReader
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
    chosen = list(infos)
    tips = {refs[info] for info in chosen}
    git.delete_refs(str(info) for info in chosen)
    removed = [info.name for info in chosen]
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


@dataclass(frozen=True)
class KeptBaselines:
    """Which commits ``exp gc`` keeps the experiments of (HEAD always; DVC's ``-w``/``-a``/``-T``/``-A``)."""

    workspace: bool = False
    all_branches: bool = False
    all_tags: bool = False
    all_commits: bool = False

    def commits(self, git: Git) -> set[str]:
        """The baselines whose experiments stay."""
        keep = {git.head()}
        if self.all_branches:
            keep.update(git.branches().values())
        if self.all_tags:
            keep.update(git.tags().values())
        if self.all_commits:
            keep.update(git.all_commits())
        return keep


def gc_candidates(git: Git, kept: KeptBaselines) -> list[ExpRef]:
    """Experiments whose baseline is not among the kept commits."""
    if not (kept.workspace or kept.all_branches or kept.all_tags or kept.all_commits):
        raise ExperimentError(
            "Either of `-w|--workspace`, `-a|--all-branches`, `-T|--all-tags` or `--all-commits` needs to be set."
        )
    refs = exp_refs(git)
    if not refs:  # nothing to collect (and a repository without commits has no HEAD to keep)
        return []
    keep = kept.commits(git)
    return [info for info in refs if info.baseline not in keep]


def gc(
    git: Git,
    kept: KeptBaselines,
    *,
    queued: bool = False,
    confirm: Callable[[str], bool] | None = None,
) -> list[str]:
    """Remove the experiments :func:`gc_candidates` finds and, unless ``queued``, the queue (as DVC does),
    after ``confirm(question)`` when given."""
    doomed = gc_candidates(git, kept)
    dequeued = [] if queued else exp_queue.entries(git)
    if not doomed and not dequeued:
        return []
    question = (
        "This will remove all experiments except those derived from the workspace"
        f"{' and all git branches' if kept.all_branches else ''}"
        f"{' and all git tags' if kept.all_tags else ''}"
        f"{' and all git commits' if kept.all_commits else ''} of the current repo."
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
    _transfer_outputs(git, {info.baseline: refs[info] for info in chosen}.items(), upload=True)
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
    tips = [(info.baseline, sha) for ref, sha in fetched.items() if (info := ExpRef.parse(ref))]
    _transfer_outputs(git, tips, upload=False)
    return sorted(fetched)


def recorded_outputs(
    tree: TreeReader,
    dvcfiles: Iterable[str],
    *,
    stages: Collection[str] | None = None,
    strict: bool = True,
) -> dict[str, str]:
    """md5 -> output path of the cached outputs ``tree``'s ``dvc.lock`` and ``.dvc`` files record.

    ``stages`` limits it to those stage names (``train``, ``sub/dvc.yaml:train``, ``data.dvc``); without
    ``strict`` a dvc file that cannot be read (an old revision's) is passed over.
    """
    from jupyter_exp import serialize
    from jupyter_exp.data.hashing import HashInfo
    from jupyter_exp.pipeline import lock as lockfile
    from jupyter_exp.pipeline.stage import build_data_stage, build_stage
    from jupyter_exp.pipeline.templating import resolve

    found: dict[str, str] = {}
    for dvcfile in dvcfiles:
        try:
            if dvcfile.endswith(".dvc"):
                stage = build_data_stage(dvcfile, serialize.load_from(tree, dvcfile))
                pairs = [(stage, out, {**out.options, "path": out.def_path}) for out in stage.outs]
            else:
                lock_path = posixpath.join(posixpath.dirname(dvcfile), "dvc.lock")
                if not tree.exists(lock_path):
                    continue
                entries = lockfile.load_text(tree.read_bytes(lock_path).decode("utf-8"), lock_path)
                pairs = []
                for name, definition in resolve(tree, dvcfile).stages.items():
                    stage = build_stage(name, definition, dvcfile)
                    recorded = {o.get("path"): o for o in (entries.get(name) or {}).get("outs") or []}
                    pairs += [(stage, out, recorded.get(out.def_path) or {}) for out in stage.outs]
            for stage, out, entry in pairs:
                if out.cache and entry.get("md5") and (stages is None or stage.addressing in stages):
                    found.setdefault(HashInfo.from_lock_entry(entry).md5, out.path)
        except (JupyterExpError, OSError, UnicodeDecodeError):
            if strict:
                raise
    return found


def commit_outputs(git: Git, sha: str) -> dict[str, str]:
    """:func:`recorded_outputs` of a commit (dvc files it cannot read are passed over)."""
    tree = git.tree(sha)
    dvcfiles = [
        path
        for path, _, _ in tree.walk_files()
        if (path.endswith("dvc.yaml") or (path.endswith(".dvc") and posixpath.basename(path) != ".dvc"))
        and not path.startswith(".dvc/")
    ]
    return recorded_outputs(tree, dvcfiles, strict=False)


def _transfer_outputs(git: Git, tips: Iterable[tuple[str, str]], *, upload: bool) -> None:
    """Push to (or fetch from) the default data remote the cached outputs of every commit of the
    experiments ``(baseline, tip)``; nothing without a default remote."""
    from jupyter_exp.config import load_config
    from jupyter_exp.data import remote_config as data_remote
    from jupyter_exp.data.cache import Cache

    if data_remote.default_remote(git.root) is None:
        return
    objects: dict[str, str] = {}
    seen: set[str] = set()
    for baseline, tip in tips:
        for sha in git.ancestors(tip, stop=[baseline]):
            if sha in seen:
                break
            seen.add(sha)
            for md5, path in commit_outputs(git, sha).items():
                objects.setdefault(md5, path)
    if not objects:
        return
    remote = data_remote.get_remote(git.root)
    cache = Cache(git.root, load_config(git.root)["cache"]["dir"])
    if upload:
        remote.push(cache, objects)
    else:
        remote.fetch(cache, objects)
