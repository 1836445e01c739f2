"""Experiment refs, laid out exactly as DVC 3 stores them so ``dvc exp show`` lists ours and we list its.

``refs/exps/<baseline[:2]>/<baseline[2:]>/<name>`` points at the experiment's commit (for checkpoint
experiments: the newest checkpoint). DVC keeps working refs under a few namespaces that are not
experiments; listing skips them as DVC does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jupyter_exp.errors import ExperimentError, SCMError
from jupyter_exp.scm.git import Git

EXPS_NAMESPACE = "refs/exps"
EXPS_STASH = f"{EXPS_NAMESPACE}/stash"
APPLY_NAMESPACE = f"{EXPS_NAMESPACE}/apply"
CELERY_NAMESPACE = f"{EXPS_NAMESPACE}/celery"
EXEC_NAMESPACE = f"{EXPS_NAMESPACE}/exec"
TEMP_NAMESPACE = f"{EXPS_NAMESPACE}/temp"
#: The experiment last applied to the workspace (DVC 3 sets the same ref in ``exp apply``).
EXEC_APPLY = f"{EXEC_NAMESPACE}/EXEC_APPLY"
#: The checkpoint experiment a run resumes (DVC 2.0's ``refs/exps/exec/EXEC_CHECKPOINT``).
EXEC_CHECKPOINT = f"{EXEC_NAMESPACE}/EXEC_CHECKPOINT"
_SKIP = (APPLY_NAMESPACE, CELERY_NAMESPACE, EXEC_NAMESPACE, TEMP_NAMESPACE)

_EXP_REF = re.compile(r"refs/exps/([0-9a-f]+)/([0-9a-f]+)/([^/]+)\Z")
_BAD_NAME = re.compile(r"[\x00-\x20\x7f~^:?*\[\\/]|\.\.|@\{|^\.|\.$|\.lock$|^-")


@dataclass(frozen=True)
class ExpRef:
    """One experiment: the commit it is based on and its name."""

    baseline: str
    name: str

    def __str__(self) -> str:
        return f"{EXPS_NAMESPACE}/{self.baseline[:2]}/{self.baseline[2:]}/{self.name}"

    @classmethod
    def parse(cls, ref: str) -> ExpRef | None:
        """The experiment a ref names, or None for refs that are not experiments (stash, exec, ...)."""
        if ref in (EXPS_STASH,) or ref.startswith(_SKIP):
            return None
        match = _EXP_REF.match(ref)
        if match is None or len(match[1]) + len(match[2]) != 40:
            return None
        return cls(match[1] + match[2], match[3])


def validate_name(name: str, git: Git | None = None) -> str:
    """Reject names Git cannot store as one ref component (and ``/``, as DVC does), and with ``git`` a name
    that is already a branch or tag: ``exp apply master`` would not say which one it means."""
    if not name or _BAD_NAME.search(name) or name == "@" or len(name.encode()) > 255:
        raise ExperimentError(
            f"Invalid experiment name {name[:80]!r}: it must be a valid Git ref component "
            "(no spaces, '/', '..', '~', '^', ':', '?', '*', '[', '\\', no leading '.' or '-', "
            "no trailing '.' or '.lock', at most 255 bytes); see https://git-scm.com/docs/git-check-ref-format"
        )
    if git is not None:
        for kind, namespace in (("branch", "refs/heads"), ("tag", "refs/tags")):
            if git.get_ref(f"{namespace}/{name}"):
                raise ExperimentError(
                    f"Invalid experiment name '{name}': a Git {kind} of that name exists; choose another name"
                )
    return name


def validate_branch_name(name: str) -> str:
    """A new branch's name by ``git check-ref-format --branch`` rules: components as for experiments."""
    if not name or name.startswith("-") or name.endswith("/") or "//" in name or name == "HEAD":
        raise ExperimentError(f"Invalid Git branch name {name!r}: see https://git-scm.com/docs/git-check-ref-format")
    for part in name.split("/"):
        if _BAD_NAME.search(part) or part == "@":
            raise ExperimentError(
                f"Invalid Git branch name {name!r}: see https://git-scm.com/docs/git-check-ref-format"
            )
    return name


def exp_refs(git: Git) -> dict[ExpRef, str]:
    """Every experiment -> the sha its ref points at, from one pass over ``refs/exps``."""
    result = {}
    for ref, sha in git.refs(EXPS_NAMESPACE).items():
        info = ExpRef.parse(ref)
        if info is not None:
            result[info] = sha
    return result


def find(git: Git, name: str, *, refs: dict[ExpRef, str] | None = None) -> tuple[ExpRef, str] | None:
    """The experiment called ``name`` (or given as its full ref); the one based on HEAD wins a tie."""
    refs = exp_refs(git) if refs is None else refs
    if name.startswith(EXPS_NAMESPACE + "/"):
        info = ExpRef.parse(name)
        return (info, refs[info]) if info in refs else None
    matches = [(info, sha) for info, sha in refs.items() if info.name == name]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        return None
    try:
        head = git.head()
    except SCMError:  # no commits: nothing can be preferred
        head = None
    for info, sha in matches:
        if info.baseline == head:
            return info, sha
    listing = "\n".join(f"\t{info}" for info, _ in matches)
    raise ExperimentError(
        f"Ambiguous experiment name '{name}' can refer to multiple experiments; use a full ref:\n{listing}"
    )
