"""dvc.yaml templating's generators: ``foreach`` (lists, dicts, interpolated sources, per-directory vars)
and ``matrix``, named and resolved exactly as DVC 3 does."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from conftest import write_files
from test_templating import run

from jupyter_exp.fsutil import WorkspaceTree
from jupyter_exp.pipeline.templating import resolve


def test_foreach_over_a_list_of_scalars_names_stages_by_value(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        {"dvc.yaml": {"stages": {"build": {"foreach": ["foo", "bar", 3], "do": {"cmd": "echo ${item}"}}}}},
    )
    assert result.stages == {
        "build@foo": {"cmd": "echo foo"},
        "build@bar": {"cmd": "echo bar"},
        "build@3": {"cmd": "echo 3"},
    }


def test_foreach_over_a_list_of_dicts_names_stages_by_index(tmp_path: Path) -> None:
    stages = {
        "build": {"foreach": [{"thresh": "foo"}, {"thresh": "bar"}], "do": {"cmd": "echo ${item.thresh}"}}
    }
    result = run(tmp_path, {"dvc.yaml": {"stages": stages}})
    assert result.stages == {"build@0": {"cmd": "echo foo"}, "build@1": {"cmd": "echo bar"}}


@pytest.mark.parametrize("field", ["${item.thresh}", "${item[thresh]}"])
def test_foreach_over_a_dict_exposes_key_and_item(tmp_path: Path, field: str) -> None:
    stages = {
        "build": {
            "foreach": {"model1": {"thresh": 10}, "model2": {"thresh": 5}},
            "do": {"cmd": f"train ${{key}} {field}", "outs": ["${key}.pkl"]},
        }
    }
    result = run(tmp_path, {"dvc.yaml": {"stages": stages}})
    assert result.stages == {
        "build@model1": {"cmd": "train model1 10", "outs": ["model1.pkl"]},
        "build@model2": {"cmd": "train model2 5", "outs": ["model2.pkl"]},
    }


def test_foreach_over_interpolated_nested_list_from_vars(tmp_path: Path) -> None:
    dvcyaml = {
        "vars": [{"models": {"lst": [{"thresh": 10}, {"thresh": 15}]}}],
        "stages": {"build": {"foreach": "${models.lst}", "do": {"cmd": "echo ${item.thresh}"}}},
    }
    result = run(tmp_path, {"dvc.yaml": dvcyaml})
    assert result.stages == {"build@0": {"cmd": "echo 10"}, "build@1": {"cmd": "echo 15"}}


def test_foreach_keys_that_are_not_strings(tmp_path: Path) -> None:
    dvcyaml = """\
        stages:
          build:
            foreach:
              2021: {thresh: foo}
              2022: {thresh: bar}
            do:
              cmd: echo ${key} ${item.thresh}
    """
    result = run(tmp_path, {"dvc.yaml": dvcyaml})
    assert result.stages == {"build@2021": {"cmd": "echo 2021 foo"}, "build@2022": {"cmd": "echo 2022 bar"}}


def test_foreach_entries_may_themselves_be_interpolated(tmp_path: Path) -> None:
    dvcyaml = {
        "vars": [{"bar": "bar"}],
        "stages": {
            "build": {"foreach": {"model1": "foo", "model2": "${bar}"}, "do": {"cmd": "echo ${item}"}}
        },
    }
    result = run(tmp_path, {"dvc.yaml": dvcyaml})
    assert result.stages == {"build@model1": {"cmd": "echo foo"}, "build@model2": {"cmd": "echo bar"}}


def test_foreach_merges_params_yaml_and_vars_file(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        {
            "params.yaml": {"models": {"model1": {"thresh": 10}, "model2": {"thresh": 15}}},
            "test_params.yaml": {"models": {"model1": {"epochs": 5}, "model2": {"epochs": 10}}},
            "dvc.yaml": {
                "vars": ["test_params.yaml"],
                "stages": {
                    "build": {"foreach": "${models}", "do": {"cmd": "echo ${item.thresh} ${item.epochs}"}}
                },
            },
        },
    )
    assert result.stages == {"build@model1": {"cmd": "echo 10 5"}, "build@model2": {"cmd": "echo 15 10"}}
    assert result.tracked_vars["build@model2"] == {
        "params.yaml": {"models.model2.thresh": 15},
        "test_params.yaml": {"models.model2.epochs": 10},
    }


def test_foreach_with_interpolated_wdir_and_local_vars_per_directory(tmp_path: Path) -> None:
    files: dict[str, Any] = {"params.yaml": {"models": {"m": 1}}}
    for i in range(3):
        files[f"model-{i}/params.yaml"] = {"train": {"epochs": 1 + i}, "prepare": {"nums": 10 * i}}
    files["dvc.yaml"] = {
        "stages": {
            "build": {
                "foreach": [0, 1, 2],
                "do": {
                    "wdir": "model-${item}",
                    "vars": ["params.yaml"],
                    "cmd": "echo ${item} ${train.epochs} ${prepare.nums}",
                },
            }
        }
    }
    result = run(tmp_path, files)
    assert result.stages == {
        "build@0": {"wdir": "model-0", "cmd": "echo 0 1 0"},
        "build@1": {"wdir": "model-1", "cmd": "echo 1 2 10"},
        "build@2": {"wdir": "model-2", "cmd": "echo 2 3 20"},
    }
    assert result.tracked_vars["build@2"] == {"model-2/params.yaml": {"train.epochs": 3, "prepare.nums": 20}}


MATRIX_DATA = {
    "os": ["win", "linux"],
    "pyv": [3.7, 3.8],
    "dict": [{"arg1": 1}, {"arg2": 2}],
    "list": [["out1", "out11"], ["out2", "out22"]],
}


@pytest.mark.parametrize(
    "matrix", [MATRIX_DATA, {"os": "${os}", "pyv": "${pyv}", "dict": "${dict}", "list": "${list}"}]
)
def test_matrix_generates_the_cartesian_product_with_dvc_names(tmp_path: Path, matrix: dict) -> None:
    cmd = "echo ${item.os} ${item.pyv} ${item.dict} -- ${item.list.0} ${item.list[1]} ${key}"
    result = run(
        tmp_path,
        {"params.yaml": MATRIX_DATA, "dvc.yaml": {"stages": {"build": {"matrix": matrix, "cmd": cmd}}}},
    )
    expected = {}
    for os_name in ("win", "linux"):
        for pyv in ("3.7", "3.8"):
            for d, flag in ((0, "--arg1 1"), (1, "--arg2 2")):
                for li, outs in ((0, "out1 out11"), (1, "out2 out22")):
                    key = f"{os_name}-{pyv}-dict{d}-list{li}"
                    expected[f"build@{key}"] = {"cmd": f"echo {os_name} {pyv} {flag} -- {outs} {key}"}
    assert result.stages == expected
    assert list(result.stages) == list(expected)  # DVC's order: the first axis varies slowest
    assert set(result.raw_stage_names.values()) == {"build"}


def test_matrix_with_bools_and_other_stage_fields(tmp_path: Path) -> None:
    dvcyaml = {
        "stages": {
            "train": {
                "matrix": {"model": ["cnn"], "aug": [True, False]},
                "cmd": "train ${item.model} ${item.aug}",
                "outs": ["${item.model}-${item.aug}.pt"],
            }
        }
    }
    result = run(tmp_path, {"dvc.yaml": dvcyaml})
    assert result.stages == {
        "train@cnn-true": {"cmd": "train cnn true", "outs": ["cnn-true.pt"]},
        "train@cnn-false": {"cmd": "train cnn false", "outs": ["cnn-false.pt"]},
    }


def test_global_item_and_key_only_warn_and_are_shadowed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dvcyaml = {
        "vars": [{"item": 10, "key": 5}],
        "stages": {"b": {"foreach": {"m": 1}, "do": {"cmd": "${key} ${item}"}}},
    }
    with caplog.at_level(logging.WARNING):
        result = run(tmp_path, {"dvc.yaml": dvcyaml})
    assert result.stages == {"b@m": {"cmd": "m 1"}}
    assert (
        "item and key are already specified, will be overwritten for stages generated from 'b'" in caplog.text
    )


def test_a_hundred_generated_stages_each_resolve_their_own_item(tmp_path: Path) -> None:
    params = {"models": {f"m{i}": {"lr": i / 100, "layers": [i, i + 1]} for i in range(100)}}
    dvcyaml = {
        "stages": {
            "train": {
                "foreach": "${models}",
                "do": {"cmd": "python train.py --lr ${item.lr} --l ${item.layers[1]}", "outs": ["${key}.pt"]},
            }
        }
    }
    write_files(tmp_path, {"params.yaml": params, "dvc.yaml": dvcyaml})
    result = resolve(WorkspaceTree(tmp_path))
    assert len(result.stages) == 100
    assert result.stages["train@m42"] == {"cmd": "python train.py --lr 0.42 --l 43", "outs": ["m42.pt"]}
