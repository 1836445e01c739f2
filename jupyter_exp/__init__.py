"""jupyter-exp: reproducible pipelines, lightweight experiments, checkpoints and live metrics in Jupyter.

Imports are lazy so that ``import jupyter_exp.live`` inside a training script stays fast.
"""

from __future__ import annotations

TYPE_CHECKING = False  # `typing` costs milliseconds a training script should not pay
if TYPE_CHECKING:
    from typing import Any

    from jupyter_exp.live import make_checkpoint
    from jupyter_exp.repo import Repo

__all__ = ["Repo", "make_checkpoint", "load_ipython_extension", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Repo":
        from jupyter_exp.repo import Repo

        return Repo
    if name == "make_checkpoint":
        from jupyter_exp.live import make_checkpoint

        return make_checkpoint
    if name == "__version__":  # one version for the package and the panel: labextension/package.json's
        from importlib.metadata import version

        return version("jupyter-exp")
    raise AttributeError(name)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the built panel is, for `jupyter labextension develop` (an installed wheel has it in share/)."""
    return [{"src": "labextension", "dest": "jupyter-exp"}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_exp``: register the magics, nothing else."""
    from jupyter_exp.notebook.magics import register

    register(ipython)
