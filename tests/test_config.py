""".dvc/config reading and writing, in the INI dialect DVC itself writes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from jupyter_exp.config import load_config, write_config
from jupyter_exp.errors import YAMLFileError


def put(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def test_defaults_without_config(tmp_path: Path) -> None:
    assert load_config(tmp_path) == {
        "core": {},
        "cache": {"type": ["reflink", "copy"], "dir": ".dvc/cache"},
        "parsing": {"bool": "store_true", "list": "nargs"},
        "remote": {},
    }


def test_reads_dvc_written_config_with_named_remotes(tmp_path: Path) -> None:
    put(
        tmp_path,
        ".dvc/config",
        """\
        [core]
            remote = storage
            autostage = true
        # a comment
        ['remote "storage"']
            url = s3://bucket/path
        ['remote "local"']
            url = /mnt/backup
        [cache]
            type = "hardlink,symlink"
            dir = ../cache
        [parsing]
            bool = boolean_optional
            list = append
        """,
    )
    config = load_config(tmp_path)
    assert config["core"] == {"remote": "storage", "autostage": "true"}
    assert config["remote"] == {"storage": {"url": "s3://bucket/path"}, "local": {"url": "/mnt/backup"}}
    assert config["cache"] == {"type": ["hardlink", "symlink"], "dir": "cache"}
    assert config["parsing"] == {"bool": "boolean_optional", "list": "append"}


def test_config_local_overrides_config(tmp_path: Path) -> None:
    put(tmp_path, ".dvc/config", "[core]\n    remote = a\n['remote \"a\"']\n    url = /a\n")
    put(tmp_path, ".dvc/config.local", "['remote \"a\"']\n    url = /secret/a\n[core]\n    remote = a\n")
    config = load_config(tmp_path)
    assert config["remote"]["a"]["url"] == "/secret/a"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[cache]\n    type = reflink,teleport\n", "'cache.type' must be a comma list of reflink, hardlink, symlink, copy"),
        ("[parsing]\n    bool = maybe\n", "'parsing.bool' must be one of store_true, boolean_optional, got 'maybe'"),
        ("[parsing]\n    list = many\n", "'parsing.list' must be one of nargs, append, got 'many'"),
        ("[core]\nthis is not ini\n", "cannot parse line 2"),
        ("remote = orphan\n", "cannot parse line 1"),
    ],
)  # fmt: skip
def test_invalid_config_names_the_key(tmp_path: Path, text: str, fragment: str) -> None:
    put(tmp_path, ".dvc/config", text)
    with pytest.raises(YAMLFileError, match="'.dvc/config' is invalid") as info:
        load_config(tmp_path)
    assert fragment in str(info.value)


def test_write_config_keeps_comments_and_other_sections(tmp_path: Path) -> None:
    put(tmp_path, ".dvc/config", "# keep me\n[core]\n    remote = a\n\n[cache]\n    type = copy\n")
    write_config(tmp_path, "core", "remote", "b")
    write_config(tmp_path, "core", "autostage", "true")
    write_config(tmp_path, "remote.b", "url", "/store/b")
    write_config(tmp_path, "cache", "type", None)
    text = (tmp_path / ".dvc/config").read_text()
    assert text == (
        "# keep me\n[core]\n    remote = b\n    autostage = true\n\n[cache]\n\n"
        "['remote \"b\"']\n    url = /store/b\n"
    )
    config = load_config(tmp_path)
    assert config["core"] == {"remote": "b", "autostage": "true"}
    assert config["remote"] == {"b": {"url": "/store/b"}}
    assert config["cache"]["type"] == ["reflink", "copy"]  # removed key falls back to the default


def test_write_config_local_creates_the_file(tmp_path: Path) -> None:
    write_config(tmp_path, 'remote "s3"', "access_key_id", "xyz", local=True)
    assert (tmp_path / ".dvc/config.local").read_text() == "['remote \"s3\"']\n    access_key_id = xyz\n"
    assert load_config(tmp_path)["remote"]["s3"] == {"access_key_id": "xyz"}
