"""Pipelines: templated ``dvc.yaml`` -> stages -> DAG -> status and repro against ``dvc.lock``."""

from jupyter_exp.pipeline.repro import Pipeline
from jupyter_exp.pipeline.stage import Stage

__all__ = ["Pipeline", "Stage"]
