"""``exp apply`` and ``exp branch``: bring an experiment into the workspace, or promote it to a branch."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from jupyter_exp.errors import DirtyWorkspaceError, ExperimentError, SCMError
from jupyter_exp.experiments.refs import EXEC_APPLY, EXEC_CHECKPOINT, exp_refs, find, validate_branch_name
from jupyter_exp.pipeline import Pipeline
from jupyter_exp.scm.git import FileEntry, Git

Log = Callable[[str], None]


def resolve_exp(git: Git, rev: str) -> tuple[str, str | None]:
    """(commit sha, experiment name or None) for an experiment name, full exp ref or any Git revision."""
    found = find(git, rev)
    if found is not None:
        return found[1], found[0].name
    try:
        return git.resolve(rev), None
    except SCMError:
        raise ExperimentError(f"'{rev}' does not appear to be an experiment or a Git revision") from None


def apply(pipeline: Pipeline, git: Git, rev: str, *, force: bool = False, log: Log) -> str:
    """Make the workspace hold experiment ``rev``'s files and cached outputs; returns its sha.

    Refuses (changing nothing) when a file it would overwrite or delete has uncommitted changes that
    are neither the baseline's nor the last applied experiment's content, unless ``force``.
    """
    sha, _ = resolve_exp(git, rev)
    target = git.flatten(sha)
    workspace = git.workspace_files()
    known: list[dict[str, FileEntry]] = [git.flatten(git.head())]
    last_applied = git.get_ref(EXEC_APPLY)
    if last_applied and git.has_commit(last_applied):
        known.append(git.flatten(last_applied))
    writes = [p for p, entry in target.items() if workspace.get(p) != entry]
    deletes = [p for p in workspace if p not in target and any(p in files for files in known)]
    if not force:
        conflicts = [
            p
            for p in writes + deletes
            if p in workspace and all(files.get(p) != workspace[p] for files in known)
        ]
        if conflicts:
            listing = "\n".join(f"\t{p}" for p in sorted(conflicts))
            raise DirtyWorkspaceError(
                f"Cannot apply '{rev}': these files have uncommitted changes that would be lost:\n{listing}\n"
                "Commit or stash them, or use --force to overwrite them."
            )
    root = git.root
    for path in writes:
        mode, blob = target[path]
        full = root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        if full.is_symlink() or full.exists():
            full.unlink()
        data = git.read_blob(blob)
        if stat.S_ISLNK(mode):
            os.symlink(data.decode(), full)
        else:
            full.write_bytes(data)
            if mode & 0o111:
                full.chmod(full.stat().st_mode | 0o111)
    for path in deletes:
        (root / path).unlink(missing_ok=True)
        _prune_empty_parents(root, Path(path).parent)
    pipeline.checkout(force=True)
    git.set_ref(EXEC_APPLY, sha)
    if any(
        sha == tip or sha in git.ancestors(tip, stop=[info.baseline]) for info, tip in exp_refs(git).items()
    ):
        git.set_ref(EXEC_CHECKPOINT, sha)
    log(f"Changes for experiment '{rev}' have been applied to your current workspace.")
    return sha


def _prune_empty_parents(root: Path, rel: Path) -> None:
    while rel != Path("."):
        directory = root / rel
        try:
            directory.rmdir()
        except OSError:
            return
        rel = rel.parent


def branch(git: Git, exp: str, branch_name: str | None = None, *, log: Log) -> str:
    """Create Git branch ``branch_name`` at experiment ``exp``; returns the release's message."""
    found = find(git, exp)
    if found is None:
        raise ExperimentError(f"'{exp}' does not appear to be an experiment")
    info, sha = found
    branch_name = validate_branch_name(branch_name or f"{info.name}-branch")
    ref = f"refs/heads/{branch_name}"
    if git.get_ref(ref):
        raise ExperimentError(f"Git branch '{branch_name}' already exists.")
    git.set_ref(ref, sha)
    message = (
        f"Git branch '{branch_name}' has been created from experiment '{info.name}'.\n"
        f"To switch to the new branch run:\n\n\tgit checkout {branch_name}"
    )
    log(message)
    return message
