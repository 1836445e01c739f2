"""Params/vars/metrics files the way DVC reads and writes them.

``formats`` parses and writes YAML, JSON, TOML and Python (``pyparams``: Python files edited literal by
literal); ``keys`` addresses nested values (``train.lr``, ``layers[0]``); ``overrides`` is the ``-S``
grammar of ``exp run``. Callers use the names re-exported here.
"""

from __future__ import annotations

from jupyter_exp.serialize.formats import (
    SUFFIXES,
    YAML_SUFFIXES,
    dump_file,
    load_file,
    load_from,
    load_roundtrip,
    parse_bytes,
    yaml_loader,
)
from jupyter_exp.serialize.keys import flatten, get_path, split_key
from jupyter_exp.serialize.overrides import apply_overrides, apply_overrides_to, parse_value

__all__ = [
    "SUFFIXES",
    "YAML_SUFFIXES",
    "apply_overrides",
    "apply_overrides_to",
    "dump_file",
    "flatten",
    "get_path",
    "load_file",
    "load_from",
    "load_roundtrip",
    "parse_bytes",
    "parse_value",
    "split_key",
    "yaml_loader",
]
