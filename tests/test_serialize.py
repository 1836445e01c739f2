"""Params files: reading every format DVC reads, and `exp run -S` style edits that keep the file's shape."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from jupyter_exp.errors import YAMLFileError
from jupyter_exp.fsutil import WorkspaceTree
from jupyter_exp.serialize import (
    apply_overrides,
    dump_file,
    flatten,
    get_path,
    load_file,
    load_from,
    load_roundtrip,
    parse_value,
)

EXPECTED = {"train": {"lr": 0.01, "epochs": 10, "layers": [8, 16], "aug": True}, "name": "cnn"}
SOURCES = {
    "params.yaml": """\
        train:
          lr: 0.01
          epochs: 10
          layers: [8, 16]
          aug: true
        name: cnn
    """,
    "params.json": '{"train": {"lr": 0.01, "epochs": 10, "layers": [8, 16], "aug": true}, "name": "cnn"}',
    "params.toml": """\
        name = "cnn"
        [train]
        lr = 0.01
        epochs = 10
        layers = [8, 16]
        aug = true
    """,
    "params.py": """\
        import os

        name = "cnn"
        HOME = os.environ.get("HOME")  # not a literal: skipped, never run


        class train:
            lr = 0.01
            epochs: int = 10
            layers = [8, 16]

            def __init__(self):
                self.aug = True
    """,
}


def put(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_format_loads_to_the_same_dict(tmp_path: Path, name: str) -> None:
    path = put(tmp_path, name, SOURCES[name])
    loaded = load_file(path)
    assert loaded == EXPECTED or (name == "params.toml" and loaded == {"name": "cnn", **EXPECTED})
    assert load_from(WorkspaceTree(tmp_path), name) == loaded
    assert load_file(path.read_bytes(), name=name) == loaded


def test_empty_files_are_empty_dicts(tmp_path: Path) -> None:
    assert load_file(put(tmp_path, "p.yaml", "")) == {}
    assert load_file(put(tmp_path, "p.json", "")) == {}


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("p.yaml", "a: 1\nb: [1\n", "unable to read: 'p.yaml', YAML file structure is corrupted"),
        ("p.json", '{"a": 1,\n "b": }', "unable to read: 'p.json', JSON file structure is corrupted"),
        ("p.toml", "a = = 1", "unable to read: 'p.toml', TOML file structure is corrupted"),
        ("p.py", "a = (\n", "unable to read: 'p.py', Python file structure is corrupted"),
        ("p.yaml", "- 1\n- 2\n", "expected a dictionary, got 'list' in file 'p.yaml'"),
    ],
)
def test_corrupted_files_name_the_file(tmp_path: Path, name: str, text: str, fragment: str) -> None:
    put(tmp_path, name, text)
    with pytest.raises(YAMLFileError) as info:
        load_from(WorkspaceTree(tmp_path), name)
    assert fragment in str(info.value)


def test_syntax_errors_name_the_line(tmp_path: Path) -> None:
    with pytest.raises(
        YAMLFileError, match="mapping values are not allowed in this context in line 3, column 5"
    ):
        load_file(put(tmp_path, "p.yaml", "a: 1\nb: 2\nc: d: e\n"), name="p.yaml")
    with pytest.raises(YAMLFileError, match="in line 2"):
        load_file(put(tmp_path, "p.json", '{"a": 1,\n "b": }'), name="p.json")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(YAMLFileError, match="'nope.yaml' does not exist"):
        load_from(WorkspaceTree(tmp_path), "nope.yaml")


def test_flatten_and_get_path() -> None:
    data = {"a": {"b": [{"c": 1}, {"c": 2}], "d": {"e": None}}, "f": 3}
    assert flatten(data) == {"a.b": [{"c": 1}, {"c": 2}], "a.d.e": None, "f": 3}
    assert get_path(data, "a.b[1].c") == 2
    assert get_path(data, "a.b.0.c") == 1
    assert get_path(data, "a.x", default="dflt") == "dflt"
    with pytest.raises(KeyError, match=r"a\.b\[5\]"):
        get_path(data, "a.b[5]")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("-3", -3),
        ("0.5", 0.5),
        ("1e-3", 0.001),
        ("true", True),
        ("False", False),
        ("null", None),
        ("adam", "adam"),
        ("[1, 2]", [1, 2]),
        ("{a: 1}", {"a": 1}),
        ("'007'", "007"),
        ("", ""),
    ],
)
def test_override_values_parse_like_hydra(text: str, value: Any) -> None:
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


YAML_WITH_COMMENTS = """\
    # Training configuration
    train:
      lr: 0.01  # learning rate
      epochs: 10
      layers: [8, 16]
    # model name below
    name: cnn
"""


def test_yaml_overrides_keep_comments_and_order(tmp_path: Path) -> None:
    path = put(tmp_path, "params.yaml", YAML_WITH_COMMENTS)
    apply_overrides(path, ["train.epochs=20", "train.layers[1]=32", "+train.seed=7", "~name"])
    assert load_file(path) == {"train": {"lr": 0.01, "epochs": 20, "layers": [8, 32], "seed": 7}}
    text = path.read_text()
    assert text.startswith("# Training configuration\ntrain:\n")
    assert "# learning rate" in text
    assert text.index("lr:") < text.index("epochs:") < text.index("layers:") < text.index("seed:")


def test_dump_file_with_plain_dict_merges_into_existing_yaml(tmp_path: Path) -> None:
    path = put(tmp_path, "params.yaml", YAML_WITH_COMMENTS)
    dump_file(path, {"train": {"lr": 0.1, "epochs": 10, "layers": [8, 16]}, "name": "cnn"})
    text = path.read_text()
    assert "lr: 0.1" in text and "# learning rate" in text and "# model name below" in text


def test_roundtrip_edit_and_dump(tmp_path: Path) -> None:
    path = put(tmp_path, "params.yaml", YAML_WITH_COMMENTS)
    doc = load_roundtrip(path)
    doc["train"]["lr"] = 0.5
    dump_file(path, doc)
    assert "lr: 0.5" in path.read_text() and "# Training configuration" in path.read_text()


@pytest.mark.parametrize("name", ["params.json", "params.toml"])
def test_json_and_toml_overrides(tmp_path: Path, name: str) -> None:
    path = put(tmp_path, name, SOURCES[name])
    apply_overrides(path, ["train.lr=0.1", "++train.new=x", "name=resnet"])
    loaded = load_file(path)
    assert loaded["train"]["lr"] == 0.1 and loaded["train"]["new"] == "x" and loaded["name"] == "resnet"
    if name.endswith(".json"):
        assert path.read_text().startswith('{\n    "train": {\n        "lr": 0.1,')  # DVC's indent=4


def test_python_overrides_rewrite_only_the_changed_literals(tmp_path: Path) -> None:
    path = put(tmp_path, "params.py", SOURCES["params.py"])
    apply_overrides(path, ["train.lr=0.1", "train.layers.1=32", "train.aug=false", "+top=2"])
    text = path.read_text()
    assert "    lr = 0.1\n" in text
    assert "    layers = [8, 32]\n" in text
    assert "        self.aug = False\n" in text
    assert 'HOME = os.environ.get("HOME")  # not a literal: skipped, never run' in text
    assert text.endswith("top = 2\n")
    assert load_file(path) == {
        "name": "cnn",
        "train": {"lr": 0.1, "epochs": 10, "layers": [8, 32], "aug": False},
        "top": 2,
    }


def test_python_remove_and_add_in_class(tmp_path: Path) -> None:
    path = put(tmp_path, "params.py", "a = 1\nb = {'x': 1, 'y': [1, 2]}\n\nclass C:\n    k = 'v'\n")
    apply_overrides(path, ["~a", "b.y=[3]", "+C.new=1.5"])
    assert load_file(path) == {"b": {"x": 1, "y": [3]}, "C": {"k": "v", "new": 1.5}}
    assert path.read_text().startswith("b = {'x': 1, 'y': [3]}\n")


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("train.missing=1", "Could not override 'train.missing'. No match in config. To append to your config use +train.missing=1"),
        ("nope.deep=1", "Could not override 'nope.deep'"),
        ("+train.lr=1", "Could not append to config. An item is already at 'train.lr'"),
        ("~train.ghost", "Could not delete from config. 'train.ghost' does not exist."),
        ("train.layers.5=1", "Could not override 'train.layers.5'"),
        ("train.lr", "'train.lr' has no value"),
    ],
)  # fmt: skip
def test_override_errors_name_file_and_key(tmp_path: Path, override: str, fragment: str) -> None:
    path = put(tmp_path, "params.yaml", YAML_WITH_COMMENTS)
    before = path.read_text()
    with pytest.raises(YAMLFileError) as info:
        apply_overrides(path, [override], name="params.yaml")
    assert "'params.yaml'" in str(info.value)
    assert fragment in str(info.value)
    assert path.read_text() == before  # nothing written on error


def test_writing_a_new_file_in_each_format(tmp_path: Path) -> None:
    data = {"a": {"b": [1, 2]}, "c": "x"}
    for name in ("n.yaml", "n.json", "n.toml", "n.py"):
        dump_file(tmp_path / name, data)
        assert load_file(tmp_path / name) == data
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # atomic writes leave no temp files


def test_yaml_scalars_follow_yaml_1_2_like_dvc(tmp_path: Path) -> None:
    """DVC reads YAML with ruamel (YAML 1.2): ``1e-3`` is a float, ``yes``/``on`` stay strings."""
    text = "a: 1e-3\nb: yes\nc: On\nd: 010\ne: 0o10\nf: 12:30\ng: TRUE\nh: 1_000\ni: .inf\nj: '1e-3'\n"
    assert load_file(put(tmp_path, "p.yaml", text)) == {
        "a": 0.001, "b": "yes", "c": "On", "d": 10, "e": 8, "f": "12:30", "g": True, "h": 1000,
        "i": float("inf"), "j": "1e-3",
    }  # fmt: skip


def test_scalar_overrides_edit_the_line_and_keep_everything_else(tmp_path: Path) -> None:
    text = (
        "# experiment settings\n"
        "train:\n"
        "  lr: 0.1   # learning rate\n"
        "  epochs: 10\n"
        "  name: base\n"
        "eval:\n"
        "  lr: 0.5\n"
        "  tags: [a, b]\n"
    )
    path = tmp_path / "params.yaml"
    path.write_text(text)
    apply_overrides(path, ["train.lr=0.01", "train.name=has: colon", "eval.lr=true"])
    expected = text.replace("lr: 0.1 ", "lr: 0.01 ").replace("name: base", "name: 'has: colon'")
    assert path.read_text() == expected.replace("  lr: 0.5", "  lr: true")  # byte for byte, comments and all
    assert load_file(path)["train"] == {"lr": 0.01, "epochs": 10, "name": "has: colon"}


def test_overrides_that_are_not_simple_scalar_edits_still_keep_comments(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("# top\nmodel:\n  layers: [1, 2]  # sizes\n  drop: 0.1\n")
    apply_overrides(path, ["model.layers=[3, 4, 5]", "+model.extra=1"])
    text = path.read_text()
    assert "# top" in text and "# sizes" in text
    assert load_file(path)["model"] == {"layers": [3, 4, 5], "drop": 0.1, "extra": 1}
