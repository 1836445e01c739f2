"""Cross-check: the same dvc.yaml files resolved by the real DVC 3 and by us give the same stages
and the same error messages. DVC runs once, in a subprocess, over every case."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import DVC

from jupyter_exp.errors import JupyterExpError
from jupyter_exp.fsutil import WorkspaceTree
from jupyter_exp.pipeline.templating import resolve

pytestmark = pytest.mark.dvc

DVC_SCRIPT = """
import json, os, re, sys
from dvc.repo import Repo
from dvc.dvcfile import ProjectFile
from dvc.parsing import DataResolver
out = {}
for case in sys.argv[1:]:
    os.chdir(case)
    try:
        repo = Repo(case)
        data, _ = ProjectFile(repo, case + "/dvc.yaml")._load()
        r = DataResolver(repo, case, data)
        out[case] = {"stages": r.resolve()["stages"], "plots": r.resolve_plots(),
                     "metrics": r.resolve_metrics(), "params": r.resolve_params()}
    except Exception as exc:
        out[case] = {"error": re.sub(r"\x1b\\[[0-9;]*m", "", str(exc))}
print(json.dumps(out))
"""

PARAMS = {
    "models": {"us": {"threshold": 10, "lr": 1e-3}, "gb": {"threshold": 15, "lr": 0.5}},
    "train": {
        "epochs": 10,
        "flag": True,
        "off": False,
        "opts": {"name": "a b", "lst": [1, "x y"], "on": True},
    },
    "lst": [{"f": "a"}, {"f": "b"}],
    "n": None,
}

CASES: dict[str, dict[str, Any]] = {
    "release_example": {
        "vars": ["custom.yaml", {"myvar": "value", "config": {"key": "value"}}],
        "stages": {
            "build": {
                "foreach": "${models}",
                "do": {
                    "cmd": "python s.py ${item.threshold} ${item.lr} ${config.key} ${c}",
                    "outs": ["${key}.pkl"],
                },
            }
        },
    },
    "types_and_rendering": {
        "stages": {
            "s": {
                "cmd": "echo ${train.epochs} ${train.flag} ${train.off} ${n} ${lst[1].f} \\${HOME}",
                "deps": ["${train.epochs}-${train.flag}-${n}"],
                "meta": {"types": ["${train.epochs}", "${train.flag}", "${n}"]},
            }
        }
    },
    "stricter_typed_paths": {"stages": {"s": {"cmd": "x", "deps": ["${train.epochs}"], "desc": "${n}"}}},
    "stricter_wdir": {"stages": {"s": {"cmd": "x", "wdir": "${train.flag}"}}},
    "cmd_dict": {"stages": {"s": {"cmd": ["python t.py ${train.opts}", "echo ${train}"]}}},
    "matrix": {
        "stages": {
            "m": {
                "matrix": {"model": ["us", "gb"], "lr": [0.1, 1e-3], "cfg": "${lst}", "flag": [True]},
                "cmd": "fit ${item.model} ${item.lr} ${item.cfg.f} ${key}",
            }
        }
    },
    "foreach_list": {
        "stages": {
            "a": {"foreach": ["x", 1, True], "do": {"cmd": "echo ${item}"}},
            "b": {"foreach": "${lst}", "do": {"cmd": "echo ${item.f}", "wdir": "w-${item.f}"}},
        }
    },
    "top_level": {
        "plots": [{"${lst[0].f}.csv": {"x": "${train.opts.name}", "y": "loss"}}, "p-${train.epochs}.png"],
        "metrics": ["m-${lst[1].f}.json"],
        "params": ["${lst[0].f}.yaml"],
    },
    "err_missing": {"stages": {"s": {"cmd": "echo ${models.xx}"}}},
    "err_parse": {"stages": {"s": {"cmd": "echo ${models.us.}"}}},
    "err_redefine": {"vars": [{"models": {"us": 1}}]},
    "err_vars_file": {"vars": ["missing.yaml"]},
    "err_partial": {"vars": ["custom.yaml", "custom.yaml:c"]},
    "err_foreach_type": {"stages": {"s": {"foreach": "${train.epochs}", "do": {"cmd": "x"}}}},
    "err_dict_in_outs": {"stages": {"s": {"cmd": "x", "outs": ["${train.opts}"]}}},
    "err_nested_list": {"vars": [{"bad": {"k": [[1]]}}], "stages": {"s": {"cmd": "x ${bad}"}}},
    "err_reserved": {"stages": {"s": {"foreach": [1], "do": {"vars": [{"item": 2}], "cmd": "x"}}}},
    "err_stage_redefine": {"stages": {"s": {"vars": [{"train": {"epochs": 1}}], "cmd": "x"}}},
    "err_item_field": {"stages": {"s": {"foreach": "${lst}", "do": {"cmd": "${item.g}"}}}},
    "err_wdir": {"stages": {"s": {"cmd": "x", "wdir": "${nope}"}}},
}


@pytest.fixture(scope="module")
def dvc_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, Any]]]:
    assert DVC is not None
    base = tmp_path_factory.mktemp("dvc-cases")
    roots = {}
    for name, dvcyaml in CASES.items():
        root = base / name
        (root / ".dvc").mkdir(parents=True)
        (root / ".dvc" / "config").write_text("[core]\n    no_scm = True\n")
        (root / "params.yaml").write_text(yaml.safe_dump(PARAMS))
        (root / "custom.yaml").write_text("c: 3\n")
        (root / "dvc.yaml").write_text(yaml.safe_dump(dvcyaml, sort_keys=False))
        roots[name] = root
    proc = subprocess.run(
        [str(DVC.parent / "python"), "-c", DVC_SCRIPT, *map(str, roots.values())],
        capture_output=True,
        text=True,
        check=True,
    )
    results = json.loads(proc.stdout)
    return {name: (root, results[str(root)]) for name, root in roots.items()}


# Resolved by DVC into values its later code crashes on ("unexpected error - 'int' object has no
# attribute 'decode'"); we validate resolved values (README, "Differences from DVC").
STRICTER = {
    "stricter_typed_paths": "failed to resolve 'stages.s.deps.0' in 'dvc.yaml': expected str, got int",
    "stricter_wdir": "failed to resolve 'stages.s.wdir' in 'dvc.yaml': expected str, got bool",
}


@pytest.mark.parametrize("case", sorted(STRICTER))
def test_stricter_than_dvc_on_resolved_types(
    case: str, dvc_results: dict[str, tuple[Path, dict[str, Any]]]
) -> None:
    root, expected = dvc_results[case]
    assert "error" not in expected
    with pytest.raises(JupyterExpError) as info:
        resolve(WorkspaceTree(root))
    assert str(info.value) == STRICTER[case]


@pytest.mark.parametrize("case", sorted(set(CASES) - set(STRICTER)))
def test_same_result_as_dvc(case: str, dvc_results: dict[str, tuple[Path, dict[str, Any]]]) -> None:
    root, expected = dvc_results[case]
    try:
        result = resolve(WorkspaceTree(root))
    except JupyterExpError as exc:
        assert {"error": str(exc)} == expected
        return
    assert "error" not in expected, expected["error"]
    expected_stages = expected["stages"] or {}  # DVC gives None for a file without stages
    assert json.loads(json.dumps(result.stages)) == expected_stages
    assert list(result.stages) == list(expected_stages)
    assert (result.plots, result.metrics, result.params) == (
        expected["plots"],
        expected["metrics"],
        expected["params"],
    )
