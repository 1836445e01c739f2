"""The plain-YAML fast path reads params files exactly as the full YAML 1.2 loader does, or not at all."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml

from jupyter_exp.serialize import load_file
from jupyter_exp.serialize.formats import yaml_loader
from jupyter_exp.serialize.plainyaml import parse_plain, yaml12_resolvers

PLAIN = [
    "a: 1\nb: -1\nc: 1.5\nd: 1e-3\ne: true\nf: False\ng: null\nh: ~\ni:\nj: yes\nk: 0o17\nl: 0x1f\n"
    "m: .inf\nn: -.inf\no: .nan\np: 010\nq: 1_000\nr: 12:30\nt: -x\nu: a b  c\nv: a#b\nw: x:y\n",
    "train:\n  lr: 0.1\n  epochs: 5\n  opt:\n    name: adam\n    beta: 0.9\nseed: 42\n",
    "# comment\na:\nb: 1\n",
    "a:\n    b: 1\n    c:\n      d: 2\n    e: 3\nf: 4\n",
    "a: x\r\nb: y\r\n",
    "a.b: 1\na-b: 2\nc: +.5\nd: -0\ne: 1.\nf: 1E+5\n",
]
NOT_PLAIN = [
    "a: 1\na: 2\n",  # duplicate: the full loader's error
    "a: 1 # c\n",
    "a: 'x'\n",
    "a: [1]\n",
    "a: 2020-01-01\n",
    "true: 1\n",
    "1: a\n",
    "  a: 1\n",
    "a: 1\n  b: 2\n",
    "a: b:\n",
    "a:\tb\n",
    "---\na: 1\n",
    "a: &x 1\nb: *x\n",
    "a: |\n  text\n",
]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return a == b


@pytest.mark.parametrize("text", PLAIN)
def test_plain_files_read_as_the_full_loader_reads_them(text: str) -> None:
    fast = parse_plain(text)
    assert fast is not None
    assert _same(fast, yaml.load(text, Loader=yaml_loader()))  # noqa: S506 - a safe loader


@pytest.mark.parametrize("text", NOT_PLAIN)
def test_anything_else_is_left_to_the_full_loader(text: str) -> None:
    assert parse_plain(text) is None


def test_a_duplicate_key_is_still_an_error_naming_the_file() -> None:
    with pytest.raises(Exception, match="params.yaml.*duplicate key"):
        load_file(b"lr: 1\nlr: 2\n", name="params.yaml")


def test_many_files_read_alike() -> None:
    """Scalars are remembered across files: the second file with the same keys takes the fast path too."""
    first = parse_plain("train:\n  lr: 0.1\n  epochs: 5\n")
    second = parse_plain("train:\n  lr: 0.2\n  epochs: 5\n")
    assert first == {"train": {"lr": 0.1, "epochs": 5}} and second == {"train": {"lr": 0.2, "epochs": 5}}


SCALARS = [
    "", "~", "null", "Null", "NULL", "nul", "true", "True", "FALSE", "yes", "on", "0", "-1", "+7", "010", "0o17",
    "0x1F", "0b101", "1_000", "1.5", "-.5", ".5", "1e-3", "1.0e+3", "6.02E23", ".inf", "-.Inf", ".nan", "1:30",
    "2026-12-07", "2026-12-07 08:00:00", "2026-12-07T08:00:00.5Z", "2026-1-7 8:00:00 +02:00", "<<", "=", "!",
    "&", "*", "abc", "0.1.2", "1e", "-", "+.", "=x",
]


def test_the_table_written_out_resolves_as_the_full_loaders() -> None:
    """plainyaml's own copy of the loader's resolvers (so reading needs no PyYAML) must not drift."""
    ours, theirs = yaml12_resolvers(), yaml_loader().yaml_implicit_resolvers

    def resolve(table: Any, text: str) -> str | None:
        return next((tag for tag, rx in table.get(text[:1], ()) if rx.match(text)), None)

    assert {k for k, v in theirs.items() if v} == set(ours)
    for text in SCALARS:
        assert resolve(ours, text) == resolve(theirs, text), text
