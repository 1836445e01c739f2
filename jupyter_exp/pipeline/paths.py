"""Where a stage's paths may point: the one check for deps, outs, metrics, plots, params files and ``wdir``.

Used when dvc.yaml (or a ``.dvc`` file) is loaded, so ``stage add`` (CLI, magics, API) and every command
reading the pipeline apply the same rules. A path is relative to the stage's ``wdir``, stays inside the
repository once normalised, and never reaches into ``.git`` or ``.dvc`` (the cache, the config): a
command that writes outputs must not be able to overwrite the repository's own files.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_exp.errors import YAMLFileError

if TYPE_CHECKING:
    from jupyter_exp.pipeline.stage import Stage

OUTSIDE = "path is outside of repository"
OUTSIDE_VERB = "is outside of repository"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _is_absolute(path: str) -> bool:
    return path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":")


def repo_path(wdir: str, def_path: str, what: str, where: str, *, output: bool = False) -> str:
    """``def_path`` (relative to ``wdir``) as a normalised path relative to the repository root.

    ``what`` is the field ("outs", "deps", ...) and ``where`` the stage, for the message.
    """
    if not isinstance(def_path, str) or not def_path.strip():
        raise YAMLFileError(f"{where}: empty path in '{what}'")
    if _CONTROL.search(def_path):  # a newline would split the path's .gitignore entry into two patterns
        raise YAMLFileError(f"{where}: {what} {def_path!r} contains a control character (newline, tab, NUL...)")
    if len(def_path) > 63 and (  # 63 characters are at most 252 bytes: shorter paths need no count
        len(def_path.encode()) > 4095 or any(len(part.encode()) > 255 for part in def_path.split("/"))
    ):
        raise YAMLFileError(f"{where}: {what} '{def_path[:60]}...' is longer than the file system allows")
    if _is_absolute(def_path):
        raise YAMLFileError(
            f"{where}: {what} '{def_path}': {OUTSIDE} (absolute paths are not supported: "
            "write it relative to the stage's wdir)"
        )
    path = posixpath.normpath(posixpath.join(wdir, def_path))
    if path == ".." or path.startswith("../"):
        raise YAMLFileError(f"{where}: {what} '{def_path}': {OUTSIDE}")
    parts = path.split("/")
    if ".git" in parts:
        raise YAMLFileError(f"{where}: {what} '{def_path}' is inside '.git', which belongs to Git")
    if parts[0] == ".dvc":
        raise YAMLFileError(f"{where}: {what} '{def_path}' is inside '.dvc' (config and cache)")
    if output and path == ".":
        raise YAMLFileError(f"{where}: {what} '{def_path}' is the whole repository")
    return path


def stage_wdir(base: str, wdir: str, where: str) -> str:
    """The stage's working directory relative to the root; DVC's message when it leaves the repository."""
    if not isinstance(wdir, str) or _is_absolute(wdir):
        raise YAMLFileError(f"{where}: stage working dir '{wdir}' is outside of DVC repo")
    path = posixpath.normpath(posixpath.join(base, wdir))
    if path == ".." or path.startswith("../"):
        raise YAMLFileError(f"{where}: stage working dir '{wdir}' is outside of DVC repo")
    if path.split("/")[0] in (".git", ".dvc"):
        raise YAMLFileError(f"{where}: stage working dir '{wdir}' is inside '{path.split('/')[0]}'")
    return path


def check_on_disk(root: Path, stages: Iterable[Stage]) -> None:
    """What the stages write (outputs) and where they run may not leave the repository, or reach into
    ``.git``/``.dvc``, through a symlinked directory, though their paths are lexically inside.

    Only parents are resolved (an output may itself be a symlink into the cache, ``cache.type``), each
    directory once: a 10,000-stage pipeline writing into a few folders costs a few ``realpath`` calls.
    """
    verdicts: dict[str, str | None] = {}
    for stage in stages:
        where = f"'{stage.dvcfile}' stage '{stage.name}'"
        checks = [(posixpath.dirname(out.path), out.kind, out.path) for out in stage.outs]
        if stage.wdir != ".":
            checks.append((stage.wdir, "wdir", stage.wdir))
        for folder, what, path in checks:
            if folder not in verdicts:
                verdicts[folder] = _escape(root, folder)
            problem = verdicts[folder]
            if problem is not None:
                raise YAMLFileError(f"{where}: {what} '{path}' {problem}")


def _escape(root: Path, folder: str) -> str | None:
    """How ``folder`` (relative to ``root``) leaves the repository once symlinks are resolved, if it does."""
    real = os.path.realpath(os.path.join(root, folder))
    if real != str(root) and not real.startswith(str(root) + os.sep):
        return f"{OUTSIDE_VERB} (a symlink leads to '{real}')"
    relative = os.path.relpath(real, root).split(os.sep)
    if ".git" in relative or relative[0] == ".dvc":
        return f"resolves into '{relative[0]}' through a symlink"
    return None
