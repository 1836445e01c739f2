"""Plot data files (TSV, CSV, JSON, YAML) as lists of row dicts, read through a tree reader.

DVC reads delimited files as text; numbers are converted here so the SVG can place them, and so
``--json`` gives numbers a consumer can use.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from collections.abc import Iterator
from typing import Any

from jupyter_exp import serialize
from jupyter_exp.errors import YAMLFileError
from jupyter_exp.fsutil import TreeReader

DATA_SUFFIXES = (".tsv", ".csv", ".json", ".yaml", ".yml")
#: Image plots, shown as they are (one per revision); the MIME type each is embedded with.
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
}

Row = dict[str, Any]


def to_number(text: str) -> Any:
    """``"3"`` -> 3, ``"0.5"``/``"nan"``/``"inf"`` -> float, anything else unchanged."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _delimited(text: str, delimiter: str) -> list[Row]:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    return [{key: to_number(value) for key, value in row.items() if key is not None} for row in reader]


def _first_list_of_rows(data: Any) -> list[Row] | None:
    """DVC takes the first list of dicts in a JSON/YAML document, searching depth-first."""
    if isinstance(data, list):
        if data and all(isinstance(item, dict) for item in data):
            return data
        return None
    if isinstance(data, dict):
        for value in data.values():
            found = _first_list_of_rows(value)
            if found is not None:
                return found
    return None


def load_rows(tree: TreeReader, path: str) -> list[Row]:
    """The rows of one data file; a file with no table in it is an error naming the file."""
    raw = tree.read_bytes(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise YAMLFileError(f"unable to read plot data '{path}': not valid utf-8") from None
    suffix = posixpath.splitext(path)[1].lower()
    if suffix in (".tsv", ".csv"):
        return _delimited(text, "\t" if suffix == ".tsv" else ",")
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise YAMLFileError(
                f"unable to read plot data '{path}': {exc.msg} in line {exc.lineno}"
            ) from None
    else:
        import yaml

        try:
            data = yaml.load(text, Loader=serialize.yaml_loader())  # noqa: S506 - YAML 1.2, as DVC reads it
        except yaml.YAMLError as exc:
            raise YAMLFileError(f"unable to read plot data '{path}': {exc}") from None
    rows = _first_list_of_rows(data)
    if rows is None:
        raise YAMLFileError(f"plot data '{path}' holds no list of records to plot")
    return rows


def is_image(path: str) -> bool:
    return posixpath.splitext(path)[1].lower() in IMAGE_TYPES


def data_files_under(tree: TreeReader, path: str) -> Iterator[str]:
    """Plot files in a folder, recursively: data (``logs/train/loss.tsv`` for nested live metrics) and
    images."""
    for name in tree.listdir(path):
        child = posixpath.join(path, name)
        if tree.isdir(child):
            yield from data_files_under(tree, child)
        elif name.lower().endswith(DATA_SUFFIXES) or is_image(name):
            yield child
