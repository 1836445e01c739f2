"""Pipelines: templated ``dvc.yaml`` -> stages -> DAG -> status and repro against ``dvc.lock``.

``Pipeline`` is loaded on first use, so readers of ``pipeline.templating`` do not pay for the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jupyter_exp.pipeline.repro import Pipeline
    from jupyter_exp.pipeline.stage import Stage

__all__ = ["Pipeline", "Stage"]


def __getattr__(name: str) -> Any:
    if name == "Pipeline":
        from jupyter_exp.pipeline.repro import Pipeline

        return Pipeline
    if name == "Stage":
        from jupyter_exp.pipeline.stage import Stage

        return Stage
    raise AttributeError(name)
