"""dvc.yaml templating errors: each names the file, the stage and the key, in DVC 3's words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import write_files

from jupyter_exp.errors import JupyterExpError, ResolveError, YAMLFileError
from jupyter_exp.fsutil import WorkspaceTree
from jupyter_exp.pipeline.templating import resolve

DATA = {"models": {"bar": "bar", "foo": "foo"}}


def error(root: Path, files: dict[str, Any], dvcyaml: str = "dvc.yaml", exc: type = ResolveError) -> str:
    write_files(root, files)
    with pytest.raises(exc) as info:
        resolve(WorkspaceTree(root), dvcyaml)
    assert isinstance(info.value, JupyterExpError)
    return str(info.value)


def stage(cmd: str, **extra: Any) -> dict[str, Any]:
    return {"stages": {"build": {"cmd": cmd, **extra}}}


# ------------------------------------------------------------------------------------------------ vars


def test_inline_vars_cannot_redefine_params_yaml(tmp_path: Path) -> None:
    msg = error(tmp_path, {"params.yaml": DATA, "dvc.yaml": {"vars": [DATA]}})
    assert msg == (
        "failed to parse 'vars' in 'dvc.yaml':\n"
        "cannot redefine 'models.bar' from 'vars[0]' as it already exists in 'params.yaml'"
    )


def test_vars_file_cannot_redefine_params_yaml(tmp_path: Path) -> None:
    files = {"params.yaml": DATA, "params.json": DATA, "dvc.yaml": {"vars": ["params.yaml", "params.json"]}}
    assert error(tmp_path, files) == (
        "failed to parse 'vars' in 'dvc.yaml':\n"
        "cannot redefine 'models.bar' from 'params.json' as it already exists in 'params.yaml'"
    )


def test_second_inline_mapping_cannot_redefine_the_first(tmp_path: Path) -> None:
    files = {"params.yaml": DATA, "dvc.yaml": {"vars": [DATA["models"], DATA["models"]]}}
    assert error(tmp_path, files) == (
        "failed to parse 'vars' in 'dvc.yaml':\ncannot redefine 'bar' from 'vars[1]' as it already exists in 'vars[0]'"
    )


def test_missing_vars_file(tmp_path: Path) -> None:
    msg = error(tmp_path, {"dvc.yaml": {"vars": ["not_existing_params.yaml"]}})
    assert msg == "failed to parse 'vars' in 'dvc.yaml': 'not_existing_params.yaml' does not exist"


def test_missing_vars_file_in_a_subdirectory_is_named_from_the_root(tmp_path: Path) -> None:
    msg = error(tmp_path, {"sub/dvc.yaml": {"vars": ["nope.yaml"]}}, "sub/dvc.yaml")
    assert msg == "failed to parse 'vars' in 'sub/dvc.yaml': 'sub/nope.yaml' does not exist"


def test_vars_path_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    assert (
        error(tmp_path, {"dvc.yaml": {"vars": ["conf"]}})
        == "failed to parse 'vars' in 'dvc.yaml': 'conf' is a directory"
    )


def test_partial_import_of_a_missing_key(tmp_path: Path) -> None:
    files = {"test_params.yaml": {"sub1": "sub1"}, "dvc.yaml": {"vars": ["test_params.yaml:sub2"]}}
    assert error(tmp_path, files) == (
        "failed to parse 'vars' in 'dvc.yaml': could not find 'sub2' in 'test_params.yaml'"
    )


@pytest.mark.parametrize("vars_", ["${file}_params.yaml", {"foo": "${foo}"}])
def test_vars_cannot_be_interpolated(tmp_path: Path, vars_: Any) -> None:
    msg = error(tmp_path, {"dvc.yaml": {"vars": [vars_, {"bar": "foo"}]}})
    assert msg == "failed to parse 'vars' in 'dvc.yaml': interpolating is not allowed"


@pytest.mark.parametrize("vars_", ["${file}_params.yaml", {"foo": "${foo}"}])
def test_stage_vars_cannot_be_interpolated(tmp_path: Path, vars_: Any) -> None:
    msg = error(tmp_path, {"dvc.yaml": stage("echo", vars=[vars_])})
    assert msg == "failed to parse 'stages.build.vars' in 'dvc.yaml': interpolating is not allowed"


def test_stage_vars_file_missing(tmp_path: Path) -> None:
    msg = error(tmp_path, {"dvc.yaml": stage("echo ${models.foo}", vars=["not_existing_params.yaml"])})
    assert msg == "failed to parse stage 'build' in 'dvc.yaml': 'not_existing_params.yaml' does not exist"


def test_stage_vars_resolve_against_wdir(tmp_path: Path) -> None:
    msg = error(tmp_path, {"dvc.yaml": stage("echo", wdir="data", vars=["local.yaml"])})
    assert msg == "failed to parse stage 'build' in 'dvc.yaml': 'data/local.yaml' does not exist"


@pytest.mark.parametrize(("vars_", "source"), [(DATA, "build.vars[0]"), ("params.json", "params.json")])
def test_stage_vars_cannot_redefine_global_ones(tmp_path: Path, vars_: Any, source: str) -> None:
    files = {"params.yaml": DATA, "params.json": DATA, "dvc.yaml": stage("echo ${models.foo}", vars=[vars_])}
    assert error(tmp_path, files) == (
        "failed to parse stage 'build' in 'dvc.yaml':\n"
        f"cannot redefine 'models.bar' from '{source}' as it already exists in 'params.yaml'"
    )


@pytest.mark.parametrize(
    ("vars_", "fragment"),
    [
        (["test_params.yaml", "test_params.yaml:sub1"], "cannot partially load 'test_params.yaml:sub1' as it's already loaded."),
        (["test_params.yaml:sub1", "test_params.yaml"], "cannot load 'test_params.yaml' as it's partially loaded already"),
        (["test_params.yaml:sub1", "test_params.yaml:sub1,sub2"], "cannot load 'test_params.yaml:sub1,sub2' as it's partially loaded already"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("local", [True, False])
def test_mixing_whole_and_partial_loads_of_one_file(
    tmp_path: Path, vars_: list[str], fragment: str, local: bool
) -> None:
    dvcyaml: dict[str, Any] = stage("echo ${sub1} ${sub2}")
    (dvcyaml["stages"]["build"] if local else dvcyaml)["vars"] = vars_
    msg = error(tmp_path, {"test_params.yaml": {"sub1": "sub1", "sub2": "sub2"}, "dvc.yaml": dvcyaml})
    where = "'stages.build.vars'" if local else "'vars'"
    assert msg == f"failed to parse {where} in 'dvc.yaml':\n{fragment}"


def test_params_yaml_that_is_not_a_mapping(tmp_path: Path) -> None:
    msg = error(tmp_path, {"params.yaml": "- a\n- b\n", "dvc.yaml": stage("echo")})
    assert (
        msg == "failed to load the variables of 'params.yaml' for 'dvc.yaml': "
        "expected a dictionary, got 'list' in file 'params.yaml'"  # DVC blames 'vars', which the file has not
    )


def test_params_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    msg = error(
        tmp_path, {"params.yaml": "a: 1\nb: [1, 2\nc: 3\n", "dvc.yaml": stage("echo")}, exc=YAMLFileError
    )
    assert "'params.yaml'" in msg
    assert "line 3" in msg


# ---------------------------------------------------------------------------------------- interpolation


def test_missing_key(tmp_path: Path) -> None:
    msg = error(
        tmp_path, {"params.yaml": {"models": {"foo": "foo"}}, "dvc.yaml": stage("echo ${models.foobar}")}
    )
    assert msg == "failed to parse 'stages.build.cmd' in 'dvc.yaml': Could not find 'models.foobar'"


@pytest.mark.parametrize(
    ("expr", "reported"),
    [
        ("${model.epochs}", "model.epochs"),
        ("${models[foobar]}", "models.foobar"),
        ("${models.foo.deeper}", "models.foo.deeper"),  # below a primitive
        ("${lst[5]}", "lst.5"),  # index out of range
        ("${lst.x}", "lst.x"),  # non-numeric index into a list
    ],
)
def test_missing_paths_are_reported_normalised(tmp_path: Path, expr: str, reported: str) -> None:
    params = {"models": {"foo": "foo"}, "lst": [1, 2]}
    msg = error(tmp_path, {"params.yaml": params, "dvc.yaml": stage("echo", outs=[f"out-{expr}"])})
    assert msg == f"failed to parse 'stages.build.outs' in 'dvc.yaml': Could not find '{reported}'"


def test_syntax_error_points_at_the_character(tmp_path: Path) -> None:
    msg = error(
        tmp_path, {"params.yaml": {"models": {"foo": "bar"}}, "dvc.yaml": stage("echo ${models.foo.}")}
    )
    assert msg == (
        "failed to parse 'stages.build.cmd' in 'dvc.yaml':\n"
        "${models.foo.}\n"
        "            ^\n"
        "ParseException: Expected end of text, found '.'  (at char 12), (line:1, col:13)"
    )


@pytest.mark.parametrize(
    ("wdir", "expected"),
    [
        ("${models[foobar]}", " Could not find 'models.foobar'"),
        (
            "${models.foo]}",
            "\n${models.foo]}\n            ^\nParseException: Expected end of text, found ']'  (at char 12), (line:1, col:13)",
        ),
    ],
)
def test_wdir_interpolation_errors(tmp_path: Path, wdir: str, expected: str) -> None:
    msg = error(tmp_path, {"params.yaml": {"models": {"bar": "bar"}}, "dvc.yaml": stage("echo", wdir=wdir)})
    assert msg == "failed to parse 'stages.build.wdir' in 'dvc.yaml':" + expected


@pytest.mark.parametrize(
    ("field", "value", "typ"),
    [
        ("outs", ["${models}"], "dict"),
        ("deps", ["data-${models}"], "dict"),
        ("cmd", "echo ${lst}", "list"),
        ("desc", "${lst}", "list"),
    ],
)
def test_composite_values_cannot_be_interpolated_outside_cmd(
    tmp_path: Path, field: str, value: Any, typ: str
) -> None:
    definition: dict[str, Any] = {"cmd": "echo", field: value}
    msg = error(
        tmp_path,
        {"params.yaml": {"models": {"a": 1}, "lst": [1, 2]}, "dvc.yaml": {"stages": {"build": definition}}},
    )
    assert (
        msg
        == f"failed to parse 'stages.build.{field}' in 'dvc.yaml':\nCannot interpolate data of type '{typ}'"
    )


def test_nested_iterable_in_cmd_dict(tmp_path: Path) -> None:
    msg = error(
        tmp_path, {"params.yaml": {"models": {"list": [1, [2, 3]]}}, "dvc.yaml": stage("echo ${models}")}
    )
    assert (
        msg
        == "failed to parse 'stages.build.cmd' in 'dvc.yaml':\nCannot interpolate nested iterable in 'list'"
    )


def test_nested_interpolation_is_not_supported(tmp_path: Path) -> None:
    msg = error(tmp_path, {"params.yaml": {"a": {"b": 1}, "k": "b"}, "dvc.yaml": stage("echo ${a.${k}}")})
    assert msg.startswith("failed to parse 'stages.build.cmd' in 'dvc.yaml':\n")
    assert "nested interpolation is not supported" in msg


def test_top_level_plots_missing_key(tmp_path: Path) -> None:
    msg = error(tmp_path, {"dvc.yaml": {"plots": ["ok.csv", "${plots.missing}"]}})
    assert msg == "failed to parse 'plots.1' in 'dvc.yaml': Could not find 'plots.missing'"


# --------------------------------------------------------------------------------------- foreach/matrix


@pytest.mark.parametrize("foreach", ["${foo}", "${dct.model1}", "${lst.0}", "foobar"])
def test_foreach_over_a_string(tmp_path: Path, foreach: str) -> None:
    dvcyaml = {
        "vars": [{"foo": "bar", "dct": {"model1": "a-out"}, "lst": ["foo", "bar"]}],
        "stages": {"build": {"foreach": foreach, "do": {"cmd": "echo ${item}"}}},
    }
    assert error(tmp_path, {"dvc.yaml": dvcyaml}) == (
        "failed to resolve 'stages.build.foreach' in 'dvc.yaml': expected list/dictionary, got str"
    )


def test_foreach_over_a_number(tmp_path: Path) -> None:
    dvcyaml = {"vars": [{"n": 3}], "stages": {"build": {"foreach": "${n}", "do": {"cmd": "echo ${item}"}}}}
    assert error(tmp_path, {"dvc.yaml": dvcyaml}) == (
        "failed to resolve 'stages.build.foreach' in 'dvc.yaml': expected list/dictionary, got int"
    )


@pytest.mark.parametrize("key", ["modelss", "modelss.123"])
def test_foreach_data_not_found(tmp_path: Path, key: str) -> None:
    dvcyaml = {"stages": {"build": {"foreach": "${" + key + "}", "do": {"cmd": "echo"}}}}
    msg = error(tmp_path, {"dvc.yaml": dvcyaml})
    assert msg == f"failed to parse 'stages.build.foreach' in 'dvc.yaml': Could not find '{key}'"


@pytest.mark.parametrize(
    ("key", "where"), [("item.thresh", "stages.build@1.cmd"), ("foo.bar", "stages.build@0.cmd")]
)
def test_foreach_generated_stage_names_the_generated_stage(tmp_path: Path, key: str, where: str) -> None:
    dvcyaml = {
        "vars": [{"foo": "bar"}],
        "stages": {"build": {"foreach": [{"thresh": "10"}, {}], "do": {"cmd": "${" + key + "}"}}},
    }
    assert (
        error(tmp_path, {"dvc.yaml": dvcyaml})
        == f"failed to parse '{where}' in 'dvc.yaml': Could not find '{key}'"
    )


def test_foreach_do_syntax_error_names_the_group(tmp_path: Path) -> None:
    dvcyaml = {"stages": {"build": {"foreach": ["foo", "bar"], "do": {"cmd": "echo ${syntax.[error}"}}}}
    assert error(tmp_path, {"dvc.yaml": dvcyaml}) == (
        "failed to parse 'stages.build.cmd' in 'dvc.yaml':\n"
        "${syntax.[error}\n"
        "        ^\n"
        "ParseException: Expected end of text, found '.'  (at char 8), (line:1, col:9)"
    )


def test_foreach_wdir_missing_key(tmp_path: Path) -> None:
    dvcyaml = {
        "vars": [{"models": ["foo", "bar"]}],
        "stages": {"build": {"foreach": "${models}", "do": {"wdir": "${ite}", "cmd": "echo ${item}"}}},
    }
    assert error(tmp_path, {"dvc.yaml": dvcyaml}) == (
        "failed to parse 'stages.build@foo.wdir' in 'dvc.yaml': Could not find 'ite'"
    )


@pytest.mark.parametrize(
    ("redefine", "words"),
    [({"item": 5}, "key item"), ({"key": 5}, "key key"), ({"item": 5, "key": 10}, "keys item and key")],
)
@pytest.mark.parametrize("from_file", [True, False])
def test_item_and_key_are_reserved_in_generated_stage_vars(
    tmp_path: Path, redefine: dict[str, int], words: str, from_file: bool
) -> None:
    files: dict[str, Any] = {}
    vars_: list[Any] = [redefine]
    if from_file:
        files["test_params.yaml"] = redefine
        vars_ = ["test_params.yaml"]
    files["dvc.yaml"] = {
        "stages": {
            "build": {
                "foreach": {"model1": {"thresh": "10"}, "model2": {"thresh": 5}},
                "do": {"vars": vars_, "cmd": "${item}"},
            }
        }
    }
    msg = error(tmp_path, files)
    expected = f"failed to parse stage 'build@model1' in 'dvc.yaml': attempted to modify reserved {words}"
    assert msg == expected + (" in 'test_params.yaml'" if from_file else "")


def test_matrix_axis_not_found(tmp_path: Path) -> None:
    dvcyaml = {"stages": {"train": {"matrix": {"lr": "${lrs}"}, "cmd": "echo ${item.lr}"}}}
    assert (
        error(tmp_path, {"dvc.yaml": dvcyaml})
        == "failed to parse 'stages.train.matrix' in 'dvc.yaml': Could not find 'lrs'"
    )


def test_matrix_axis_must_be_a_list(tmp_path: Path) -> None:
    dvcyaml = {
        "vars": [{"lr": 0.1}],
        "stages": {"train": {"matrix": {"lr": "${lr}"}, "cmd": "echo ${item.lr}"}},
    }
    assert error(tmp_path, {"dvc.yaml": dvcyaml}) == (
        "failed to resolve 'stages.train.matrix' in 'dvc.yaml': expected list for 'lr', got float"
    )


def test_matrix_item_field_missing_names_generated_stage(tmp_path: Path) -> None:
    dvcyaml = {"stages": {"train": {"matrix": {"lr": [0.1]}, "cmd": "echo ${item.epochs}"}}}
    assert error(tmp_path, {"dvc.yaml": dvcyaml}) == (
        "failed to parse 'stages.train@0.1.cmd' in 'dvc.yaml': Could not find 'item.epochs'"
    )


# ------------------------------------------------------------------------------------ resolved values

TYPED = {"n": 3, "flag": True, "none": None, "models": {"us": {"n": 1, "path": "a"}, "gb": {"n": 2}}}


@pytest.mark.parametrize(
    ("definition", "where", "problem"),
    [
        ({"cmd": "${n}"}, "stages.build.cmd", "expected str, got int"),
        ({"cmd": ["echo", "${flag}"]}, "stages.build.cmd.1", "expected str, got bool"),
        ({"cmd": "x", "wdir": "${n}"}, "stages.build.wdir", "expected str, got int"),
        ({"cmd": "x", "deps": ["${none}"]}, "stages.build.deps.0", "expected str, got null"),
        ({"cmd": "x", "outs": ["${n}"]}, "stages.build.outs.0", "expected str or a dictionary, got int"),
        ({"cmd": "x", "desc": "${n}"}, "stages.build.desc", "expected str, got int"),
        (
            {"cmd": "x", "params": ["${flag}"]},
            "stages.build.params.0",
            "expected str or a dictionary, got bool",
        ),
        (
            {"cmd": "x", "plots": [{"p.csv": {"x": "${n}"}}]},
            "stages.build.plots.0.p.csv.x",
            "expected str, got int",
        ),
        (
            {"foreach": "${models}", "do": {"cmd": "x", "deps": ["${item.n}"]}},
            "stages.build@us.deps.0",
            "expected str, got int",
        ),
        (
            {"matrix": {"m": ["us"]}, "cmd": "x", "outs": [{"o": {"remote": "${models.us.n}"}}]},
            "stages.build@us.outs.0.o.remote",
            "expected str, got int",
        ),
    ],
)
def test_resolved_values_are_validated_naming_the_generated_stage(
    tmp_path: Path, definition: dict[str, Any], where: str, problem: str
) -> None:
    """DVC crashes later ("'int' object has no attribute 'decode'") or runs ``3``; we say where."""
    msg = error(tmp_path, {"params.yaml": TYPED, "dvc.yaml": {"stages": {"build": definition}}})
    assert msg == f"failed to resolve '{where}' in 'dvc.yaml': {problem}"


def test_resolved_top_level_sections_are_validated(tmp_path: Path) -> None:
    msg = error(tmp_path, {"params.yaml": TYPED, "dvc.yaml": {"metrics": ["m.json", "${n}"]}})
    assert msg == "failed to resolve 'metrics.1' in 'dvc.yaml': expected str, got int"


def test_whole_value_in_a_typed_field_is_a_schema_error_as_in_dvc(tmp_path: Path) -> None:
    """``dvc`` 3.67.1 validates the raw file first: ``frozen: ${freeze}`` is "expected bool" there too."""
    dvcyaml = {"vars": [{"freeze": True}], "stages": {"build": {"cmd": "x", "frozen": "${freeze}"}}}
    msg = error(tmp_path, {"dvc.yaml": dvcyaml}, exc=YAMLFileError)
    assert msg == "'dvc.yaml' validation failed: expected bool in 'stages.build.frozen', line 6"


# ---------------------------------------------------------------------------------------------- schema


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ({"cmd": "x", "foo": 1}, "extra keys not allowed in 'stages.train.foo'"),
        ({"deps": ["a"]}, "required key not provided in 'stages.train.cmd'"),
        ({"cmd": "x", "deps": "data.csv"}, "expected list in 'stages.train.deps'"),
        ({"cmd": "x", "deps": [1]}, "expected str in 'stages.train.deps.0'"),
        ({"cmd": 5}, "expected str in 'stages.train.cmd'"),
        ({"cmd": ["a", 2]}, "expected str in 'stages.train.cmd.1'"),
        ({"cmd": "x", "frozen": "yes"}, "expected bool in 'stages.train.frozen'"),
        ({"cmd": "x", "frozen": "${freeze}"}, "expected bool in 'stages.train.frozen'"),
        ({"cmd": "x", "wdir": ["a"]}, "expected str in 'stages.train.wdir'"),
        ({"cmd": "x", "outs": [{"m.pt": {"cache": "no"}}]}, "expected bool in 'stages.train.outs.0.m.pt.cache'"),
        ({"cmd": "x", "outs": [{"m.pt": {"colour": "red"}}]}, "extra keys not allowed in 'stages.train.outs.0.m.pt.colour'"),
        ({"cmd": "x", "metrics": [3]}, "expected str or a dictionary in 'stages.train.metrics.0'"),
        ({"cmd": "x", "plots": [{"p.csv": {"x": "a", "smooth": 1}}]}, "extra keys not allowed in 'stages.train.plots.0.p.csv.smooth'"),
        ({"cmd": "x", "params": [{"p.yaml": "lr"}]}, "expected list in 'stages.train.params.0.p.yaml'"),
        ({"cmd": "x", "live": {"logs": {"summary": "y"}}}, "expected bool in 'stages.train.live.logs.summary'"),
        ({"cmd": "x", "live": {"logs": {"bogus": True}}}, "extra keys not allowed in 'stages.train.live.logs.bogus'"),
        ({"cmd": "x", "vars": "p.yaml"}, "expected list in 'stages.train.vars'"),
        ({"cmd": "x", "matrix": {"a": 1}}, "expected str or list in 'stages.train.matrix.a'"),
        ({"foreach": [1], "do": {"cmd": "x"}, "cmd": "y"}, "extra keys not allowed in 'stages.train.cmd'"),
        ({"foreach": [1]}, "required key not provided in 'stages.train.do'"),
        ({"foreach": [1], "do": {"cmd": "x", "matrix": {"a": [1]}}}, "extra keys not allowed in 'stages.train.do.matrix'"),
        ({"foreach": [1], "do": {"deps": ["a"]}}, "required key not provided in 'stages.train.do.cmd'"),
    ],
)  # fmt: skip
def test_schema_errors_name_file_stage_and_key(tmp_path: Path, definition: dict, expected: str) -> None:
    msg = error(tmp_path, {"dvc.yaml": {"stages": {"train": definition}}}, exc=YAMLFileError)
    assert msg.startswith(f"'dvc.yaml' validation failed: {expected}")


def test_schema_error_reports_the_line(tmp_path: Path) -> None:
    dvcyaml = """\
        stages:
          prepare:
            cmd: python prep.py
          train:
            cmd: python train.py
            deps: data.csv
    """
    msg = error(tmp_path, {"dvc.yaml": dvcyaml}, exc=YAMLFileError)
    assert msg == "'dvc.yaml' validation failed: expected list in 'stages.train.deps', line 6"


def test_schema_reports_every_error(tmp_path: Path) -> None:
    dvcyaml = {"stages": {"a": {"cmd": "x", "foo": 1}, "b": {"deps": []}}, "extra": 1}
    msg = error(tmp_path, {"dvc.yaml": dvcyaml}, exc=YAMLFileError)
    assert msg.startswith("'dvc.yaml' validation failed: 3 errors\n")
    for fragment in (
        "extra keys not allowed in 'extra'",
        "extra keys not allowed in 'stages.a.foo'",
        "required key not provided in 'stages.b.cmd'",
    ):
        assert fragment in msg


@pytest.mark.parametrize(
    ("dvcyaml", "expected"),
    [
        ({"params": [{"a": 1}]}, "expected str in 'params.0'"),
        ({"metrics": "m.json"}, "expected list in 'metrics'"),
        ({"plots": [{"p.csv": {"colour": "red"}}]}, "extra keys not allowed in 'plots.0.p.csv.colour'"),
        ({"stages": ["a"]}, "expected a dictionary in 'stages'"),
        ({"vars": [1]}, "expected str or a dictionary in 'vars.0'"),
    ],
)
def test_top_level_schema_errors(tmp_path: Path, dvcyaml: dict, expected: str) -> None:
    msg = error(tmp_path, {"dvc.yaml": dvcyaml}, exc=YAMLFileError)
    assert msg.startswith(f"'dvc.yaml' validation failed: {expected}")


def test_missing_dvc_yaml(tmp_path: Path) -> None:
    assert error(tmp_path, {}, "sub/dvc.yaml", exc=YAMLFileError) == "'sub/dvc.yaml' does not exist"


def test_dvc_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    msg = error(tmp_path, {"dvc.yaml": "stages:\n  train:\n    cmd: [a, b\n"}, exc=YAMLFileError)
    assert msg.startswith("unable to read: 'dvc.yaml', YAML file structure is corrupted")
    assert "line 4" in msg
