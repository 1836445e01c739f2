"""Run inside DVC's venv: resolve each case directory's dvc.yaml with DVC's own loader, print JSON.

``argv``: case directories, each holding ``case.json`` (``{"dvcfile": ...}``). For each, the result is
what every ``dvc`` command sees: the schema-validated file, then ``DataResolver``'s stages, top-level
sections, tracked params and warnings; or the error (schema errors as the failing key paths).
"""

import json
import logging
import os
import re
import sys

from dvc.dvcfile import ProjectFile
from dvc.repo import Repo
from dvc.utils.strictyaml import YAMLValidationError


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def resolve(root):
    with open(os.path.join(root, "case.json")) as fd:
        dvcfile = json.load(fd)["dvcfile"]
    os.chdir(root)
    handler = Collect()
    logging.getLogger("dvc.parsing").addHandler(handler)
    try:
        repo = Repo(root)
        resolver = ProjectFile(repo, os.path.join(root, dvcfile)).resolver
        return {
            "stages": resolver.resolve()["stages"] or {},
            "plots": resolver.resolve_plots(),
            "metrics": resolver.resolve_metrics(),
            "params": resolver.resolve_params(),
            "tracked": {name: files for name, files in resolver.tracked_vars.items() if files},
            "warnings": handler.messages,
        }
    except YAMLValidationError as exc:
        return {"schema": sorted(".".join(map(str, error.path)) for error in exc.exc.errors)}
    except Exception as exc:  # noqa: BLE001 - every failure is a result to compare
        return {"error": re.sub(r"\x1b\[[0-9;]*m", "", str(exc))}
    finally:
        logging.getLogger("dvc.parsing").removeHandler(handler)


print(json.dumps({root: resolve(root) for root in sys.argv[1:]}, default=str))
