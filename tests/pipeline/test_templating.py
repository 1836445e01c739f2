"""dvc.yaml templating: what resolves, and to exactly what (DVC 3's documented behaviour).

``foreach`` and ``matrix`` are in test_templating_generators.py, errors in test_templating_errors.py.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
from conftest import write_files

from jupyter_exp.fsutil import WorkspaceTree
from jupyter_exp.pipeline.templating import ResolvedPipeline, resolve


def run(root: Path, files: dict[str, Any], dvcyaml: str = "dvc.yaml", **kwargs: Any) -> ResolvedPipeline:
    write_files(root, files)
    return resolve(WorkspaceTree(root), dvcyaml, **kwargs)


def test_dvc_2_0_release_example(tmp_path: Path) -> None:
    """The DVC 2.0 announcement: nested params.yaml, a vars file plus an inline mapping, foreach."""
    result = run(
        tmp_path,
        {
            "params.yaml": {"models": {"us": {"threshold": 10}, "gb": {"threshold": 15}}},
            "custom_params.yaml": {"prefix": "model"},
            "dvc.yaml": """\
                vars:
                  - custom_params.yaml
                  - myvar: 'value'
                    config:
                      key: 'value'
                stages:
                  build:
                    foreach: ${models}
                    do:
                      cmd: python script.py --thresh ${item.threshold} ${config.key}
                      outs:
                        - ${prefix}-${key}.pkl
            """,
        },
    )
    assert result.stages == {
        "build@us": {"cmd": "python script.py --thresh 10 value", "outs": ["model-us.pkl"]},
        "build@gb": {"cmd": "python script.py --thresh 15 value", "outs": ["model-gb.pkl"]},
    }
    assert result.raw_stage_names == {"build@us": "build", "build@gb": "build"}
    assert result.path == "dvc.yaml"
    assert result.tracked_vars["build@gb"] == {
        "params.yaml": {"models.gb.threshold": 15},
        "custom_params.yaml": {"prefix": "model"},
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), (7, 7), (0.5, 0.5), ("text", "text"), (None, None)],
)
def test_whole_string_interpolation_keeps_the_type(tmp_path: Path, value: Any, expected: Any) -> None:
    result = run(
        tmp_path,
        {
            "params.yaml": {"v": value},
            "dvc.yaml": {"stages": {"s": {"cmd": "echo", "meta": {"v": "${v}", "lst": ["${v}"]}}}},
        },
    )
    assert result.stages["s"]["meta"] == {"v": expected, "lst": [expected]}
    assert type(result.stages["s"]["meta"]["v"]) is type(expected)


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (0.1, "0.1"),
        (1e-05, "1e-05"),
        (None, "None"),
        ("a b", "'a b'"),  # deliberately not DVC's: a value in cmd is one shell word (README, Reliability)
    ],
)
def test_embedded_values_render_like_dvc(tmp_path: Path, value: Any, rendered: str) -> None:
    result = run(
        tmp_path, {"params.yaml": {"v": value}, "dvc.yaml": {"stages": {"s": {"cmd": "run --x=${v}!"}}}}
    )
    assert result.stages["s"]["cmd"] == f"run --x={rendered}!"


@pytest.mark.parametrize(
    "expr",
    ["${data.lst[1].name}", "${data.lst.1.name}", "${data[lst][1][name]}", "${ data.lst.1.name }"],
)
def test_dotted_and_bracket_paths(tmp_path: Path, expr: str) -> None:
    params = {"data": {"lst": [{"name": "a"}, {"name": "b"}]}}
    result = run(tmp_path, {"params.yaml": params, "dvc.yaml": {"stages": {"s": {"cmd": f"echo {expr}"}}}})
    assert result.stages["s"]["cmd"] == "echo b"


def test_backslash_escapes_a_literal_dollar_brace(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        {
            "params.yaml": {"x": 1},
            "dvc.yaml": {"stages": {"s": {"cmd": r"echo \${HOME} ${x}", "deps": [r"\${not_a_var}"]}}},
        },
    )
    assert result.stages["s"] == {"cmd": "echo ${HOME} 1", "deps": ["${not_a_var}"]}


DICT_PARAMS = {
    "foo": "foo",
    "bar": 2,
    "string": "spaced string",
    "mixed": "quote\"'d",
    "bool": True,
    "bool-false": False,
    "list": [1, 2, "foo", "quote\"'d"],
    "nested": {"foo": "foo"},
}


@pytest.mark.parametrize(
    ("parsing", "bools", "lists"),
    [
        (None, "--bool", "--list 1 2 foo {q}"),
        ({"bool": "store_true", "list": "nargs"}, "--bool", "--list 1 2 foo {q}"),
        ({"bool": "boolean_optional", "list": "nargs"}, "--bool --no-bool-false", "--list 1 2 foo {q}"),
        ({"bool": "store_true", "list": "append"}, "--bool", "--list 1 --list 2 --list foo --list {q}"),
    ],
)
def test_dict_in_cmd_unpacks_to_flags(tmp_path: Path, parsing: dict | None, bools: str, lists: str) -> None:
    result = run(
        tmp_path,
        {
            "params.yaml": {"dict": DICT_PARAMS},
            "dvc.yaml": {"stages": {"s": {"cmd": "python script.py ${dict}"}}},
        },
        parsing=parsing,
    )
    quoted = shlex.quote("quote\"'d")
    assert result.stages["s"]["cmd"] == (
        "python script.py --foo foo --bar 2 --string 'spaced string' "
        f"--mixed {quoted} {bools} {lists.format(q=quoted)} --nested.foo foo"
    )


def test_wdir_is_kept_as_written_and_stage_vars_load_from_it(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        {
            "params.yaml": {"dict": {"bar": "bar", "ws": "data"}},
            "data/params.yaml": {"dict": {"foo": "foo"}},
            "dvc.yaml": {
                "stages": {
                    "stage1": {
                        "cmd": "echo ${dict.foo} ${dict.bar}",
                        "params": ["value1"],
                        "wdir": "${dict.ws}",
                        "vars": ["params.yaml"],
                    }
                }
            },
        },
    )
    assert result.stages == {"stage1": {"cmd": "echo foo bar", "params": ["value1"], "wdir": "data"}}
    assert result.tracked_vars["stage1"] == {
        "data/params.yaml": {"dict.foo": "foo"},
        "params.yaml": {"dict.bar": "bar", "dict.ws": "data"},
    }


def test_stage_vars_are_visible_to_that_stage_only(tmp_path: Path) -> None:
    dvcyaml = {
        "stages": {
            "a": {"vars": [{"local": 1}], "cmd": "echo ${local}"},
            "b": {"cmd": "echo ${local}"},
        }
    }
    write_files(tmp_path, {"dvc.yaml": dvcyaml})
    from jupyter_exp.errors import ResolveError

    with pytest.raises(ResolveError, match=r"'stages\.b\.cmd' in 'dvc.yaml': Could not find 'local'"):
        resolve(WorkspaceTree(tmp_path))
    dvcyaml["stages"].pop("b")
    assert run(tmp_path, {"dvc.yaml": dvcyaml}).stages == {"a": {"cmd": "echo 1"}}


@pytest.mark.parametrize(
    "vars_",
    [
        ["test_params.yaml:bar", "test_params.yaml:foo"],
        ["test_params.yaml:foo,bar"],
        ["test_params.yaml"],
        ["test_params.yaml", "test_params.yaml"],
    ],
)
@pytest.mark.parametrize("local", [True, False])
def test_whole_and_partial_vars_imports(tmp_path: Path, vars_: list[str], local: bool) -> None:
    stage: dict[str, Any] = {"cmd": "echo ${bar} ${foo}"}
    dvcyaml: dict[str, Any] = {"stages": {"build": stage}}
    (stage if local else dvcyaml)["vars"] = vars_
    result = run(tmp_path, {"test_params.yaml": {"bar": "B", "foo": "F", "other": 1}, "dvc.yaml": dvcyaml})
    assert result.stages["build"] == {"cmd": "echo B F"}


def test_partial_import_loads_only_the_named_keys(tmp_path: Path) -> None:
    from jupyter_exp.errors import ResolveError

    write_files(
        tmp_path,
        {
            "test_params.yaml": {"keep": 1, "skip": 2},
            "dvc.yaml": {"vars": ["test_params.yaml:keep"], "stages": {"s": {"cmd": "${keep} ${skip}"}}},
        },
    )
    with pytest.raises(ResolveError, match="Could not find 'skip'"):
        resolve(WorkspaceTree(tmp_path))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("vals.json", '{"train": {"lr": 0.01, "layers": [8, 16]}}'),
        ("vals.toml", "[train]\nlr = 0.01\nlayers = [8, 16]\n"),
        (
            "vals.py",
            "import os\n\nclass train:\n    lr = 0.01\n    layers = [8, 16]\n    path = os.getcwd()\n",
        ),
        ("vals.yml", "train:\n  lr: 0.01\n  layers: [8, 16]\n"),
    ],
)
def test_vars_files_in_every_format(tmp_path: Path, name: str, content: str) -> None:
    dvcyaml = {"vars": [name], "stages": {"s": {"cmd": "fit ${train.lr} ${train.layers[1]}"}}}
    result = run(tmp_path, {name: content, "dvc.yaml": dvcyaml})
    assert result.stages["s"]["cmd"] == "fit 0.01 16"


def test_dvc_yaml_in_a_subdirectory_uses_its_own_params_yaml(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        {
            "params.yaml": {"root_only": 1},
            "sub/params.yaml": {"x": "sub"},
            "shared.yaml": {"y": "shared"},
            "sub/dvc.yaml": {
                "vars": ["../shared.yaml"],
                "stages": {"s": {"cmd": "echo ${x} ${y}", "wdir": "w"}},
            },
        },
        "sub/dvc.yaml",
    )
    assert result.path == "sub/dvc.yaml"
    assert result.stages == {"s": {"cmd": "echo sub shared", "wdir": "w"}}
    assert result.tracked_vars["s"] == {"sub/params.yaml": {"x": "sub"}, "shared.yaml": {"y": "shared"}}


def test_params_yaml_listed_again_in_vars_is_not_a_redefinition(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        {
            "params.yaml": {"bar": "bar", "foo": "foo"},
            "dvc.yaml": {
                "vars": ["params.yaml"],
                "stages": {"build": {"wdir": "data", "cmd": "echo ${bar}", "vars": ["../params.yaml"]}},
            },
        },
    )
    assert result.stages["build"] == {"wdir": "data", "cmd": "echo bar"}


def test_top_level_plots_metrics_params_are_interpolated(tmp_path: Path) -> None:
    dvcyaml = {
        "params": ["${files.params}", "other.yaml"],
        "metrics": ["${files.metrics}"],
        "plots": [
            {
                "${files.plot}": {
                    "x": "${axes.x}",
                    "y": {"train.csv": "${axes.y}", "test.csv": ["${axes.y}", "acc"]},
                    "title": "Confusion",
                }
            },
            {"eval/importance.png": None},
            "${files.plot}",
        ],
    }
    params = {
        "files": {"params": "p.json", "metrics": "m.json", "plot": "cm.csv"},
        "axes": {"x": "actual", "y": "predicted"},
    }
    result = run(tmp_path, {"params.yaml": params, "dvc.yaml": dvcyaml})
    assert result.params == ["p.json", "other.yaml"]
    assert result.metrics == ["m.json"]
    assert result.plots == [
        {
            "cm.csv": {
                "x": "actual",
                "y": {"train.csv": "predicted", "test.csv": ["predicted", "acc"]},
                "title": "Confusion",
            }
        },
        {"eval/importance.png": None},
        "cm.csv",
    ]


def test_resolved_stage_keeps_only_its_keys_in_order_and_drops_vars(tmp_path: Path) -> None:
    dvcyaml = """\
        stages:
          train:
            vars: [{n: 3}]
            desc: Train ${n} epochs
            cmd:
              - python prep.py
              - python train.py --n ${n}
            deps: [train.py]
            params: [{params.yaml: [lr]}, {other.yaml: }]
            outs:
              - model-${n}.pt: {cache: false, persist: true}
            metrics: [{metrics.json: {cache: false}}]
            plots: [{logs: {x: step, y: loss, template: linear}}]
            live:
              logs: {summary: true, html: true}
            frozen: true
            always_changed: false
            meta: {owner: me}
    """
    result = run(tmp_path, {"dvc.yaml": dvcyaml})
    stage = result.stages["train"]
    assert list(stage) == [
        "desc", "cmd", "deps", "params", "outs", "metrics", "plots", "live", "frozen", "always_changed", "meta",
    ]  # fmt: skip
    assert stage["desc"] == "Train 3 epochs"
    assert stage["cmd"] == ["python prep.py", "python train.py --n 3"]
    assert stage["params"] == [{"params.yaml": ["lr"]}, {"other.yaml": None}]
    assert stage["outs"] == [{"model-3.pt": {"cache": False, "persist": True}}]
    assert stage["live"] == {"logs": {"summary": True, "html": True}}


def test_empty_dvc_yaml_and_no_params_file(tmp_path: Path) -> None:
    result = run(tmp_path, {"dvc.yaml": ""})
    assert (result.stages, result.plots, result.metrics, result.params) == ({}, [], [], [])
