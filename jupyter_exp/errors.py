"""Errors a user can act on. Front ends print ``str(err)`` without a traceback and exit non-zero."""

from __future__ import annotations


class JupyterExpError(Exception):
    """Base of every user-facing error; the message names the file, stage or key at fault."""

    exit_code = 1


class NotARepoError(JupyterExpError):
    """No Git repository (or no ``.dvc/``) where one is needed."""


class YAMLFileError(JupyterExpError):
    """A dvc.yaml, dvc.lock, params or .dvc file could not be parsed or has a bad schema."""


class ResolveError(JupyterExpError):
    """Templating (``vars``, ``${...}``, ``foreach``, ``matrix``) failed."""


class StageNotFoundError(JupyterExpError):
    """A target names no stage."""


class PipelineError(JupyterExpError):
    """The stages do not form a valid DAG (cycle, duplicate or overlapping outputs)."""


class ReproductionError(JupyterExpError):
    """A stage's command failed."""


class CacheError(JupyterExpError):
    """An object is missing from the cache or the cache is inconsistent."""


class SCMError(JupyterExpError):
    """A Git revision, ref or object could not be resolved or written."""


class RepoLockedError(JupyterExpError):
    """Another command holds the repository's write lock (``.dvc/tmp/rwlock``) past the timeout."""


class RefRaceError(SCMError):
    """A compare-and-swap ref update lost: another process moved, created or locked the ref."""


class ExperimentError(JupyterExpError):
    """An experiment could not be run, found, applied or removed."""


class DirtyWorkspaceError(JupyterExpError):
    """An operation would overwrite uncommitted work; ``--force`` allows it."""


class LiveError(JupyterExpError):
    """The live logger was given something it cannot log."""
