"""DVC's own templating cases (``tests/func/parsing/``, ported as data in ``parsing_cases/``) resolved by
the real DVC 3.67.1 and by us: the same stages, top-level sections, tracked params and warnings, or
the same error (schema errors: the same failing keys). DVC runs once, in its venv, over every case.

A case with ``stricter:`` is one where we deliberately refuse what DVC accepts (README, "Differences
from DVC"); the test asserts that DVC accepts it and that we give that message.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import DVC

from jupyter_exp.errors import JupyterExpError, YAMLFileError
from jupyter_exp.fsutil import WorkspaceTree
from jupyter_exp.pipeline.templating import resolve

pytestmark = pytest.mark.dvc

HERE = Path(__file__).parent / "parsing_cases"
CASES: dict[str, dict[str, Any]] = {
    f"{path.stem}/{name}": case
    for path in sorted(HERE.glob("*.yaml"))
    for name, case in yaml.safe_load(path.read_text()).items()
}


def _write(root: Path, name: str, data: Any) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if name.endswith(".json") else yaml.safe_dump(data, sort_keys=False))


def _make_case(root: Path, case: dict[str, Any]) -> None:
    (root / ".dvc").mkdir(parents=True)
    config = "[core]\n    no_scm = True\n"
    if "config" in case:
        config += "[parsing]\n" + "".join(f"    {k} = {v}\n" for k, v in case["config"].items())
    (root / ".dvc" / "config").write_text(config)
    for name, data in (case.get("files") or {}).items():
        _write(root, name, data)
    dvcfile = case.get("dvcfile", "dvc.yaml")
    _write(root, dvcfile, case["dvc.yaml"])
    (root / "case.json").write_text(json.dumps({"dvcfile": dvcfile}))


@pytest.fixture(scope="module")
def dvc_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, Any]]]:
    assert DVC is not None
    base = tmp_path_factory.mktemp("parsing")
    roots = {}
    for index, (name, case) in enumerate(CASES.items()):
        roots[name] = base / str(index)
        _make_case(roots[name], case)
    proc = subprocess.run(
        [str(DVC.parent / "python"), str(HERE / "dvc_resolve.py"), *map(str, roots.values())],
        capture_output=True,
        text=True,
        check=True,
    )
    results = json.loads(proc.stdout)
    return {name: (root, results[str(root)]) for name, root in roots.items()}


def ours(root: Path, case: dict[str, Any], caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    """Our result in the shape ``dvc_resolve.py`` prints."""
    with caplog.at_level(logging.WARNING, logger="jupyter_exp.pipeline"):
        try:
            result = resolve(WorkspaceTree(root), case.get("dvcfile", "dvc.yaml"), parsing=case.get("config"))
        except YAMLFileError as exc:
            if "validation failed" not in str(exc):
                raise
            return {"schema": sorted(re.findall(r"in '([^']*)'(?:, line \d+)?$", str(exc), re.M))}
        except JupyterExpError as exc:
            return {"error": str(exc)}
    return json.loads(
        json.dumps(
            {
                "stages": result.stages,
                "plots": result.plots,
                "metrics": result.metrics,
                "params": result.params,
                "tracked": {name: files for name, files in result.tracked_vars.items() if files},
                "warnings": [record.getMessage() for record in caplog.records],
            },
            default=str,
        )
    )


@pytest.mark.parametrize("name", [name for name, case in CASES.items() if "stricter" not in case])
def test_resolves_as_dvc_does(
    name: str, dvc_results: dict[str, tuple[Path, dict[str, Any]]], caplog: pytest.LogCaptureFixture
) -> None:
    root, expected = dvc_results[name]
    got = ours(root, CASES[name], caplog)
    assert got == expected
    if "stages" in got:
        assert list(got["stages"]) == list(expected["stages"])  # generated stages in DVC's order


@pytest.mark.parametrize("name", [name for name, case in CASES.items() if "stricter" in case])
def test_stricter_than_dvc(
    name: str, dvc_results: dict[str, tuple[Path, dict[str, Any]]], caplog: pytest.LogCaptureFixture
) -> None:
    root, expected = dvc_results[name]
    assert "stages" in expected, expected  # DVC's resolver accepts it ...
    assert ours(root, CASES[name], caplog) == {"error": CASES[name]["stricter"]}  # ... and we say why not


def test_at_least_a_hundred_cases_ported_from_dvc() -> None:
    assert sum(not name.startswith("issue9/") for name in CASES) >= 100
