"""Odd files and values a careless user produces: FIFOs, over-long and control-character names, unicode,
broken lock/config/params/metrics files, symlinks out of the repository given to ``add``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from conftest import commit_files, git, ok

from hostile import refused


def test_a_fifo_is_refused_instead_of_read_forever(git_repo: Path, run_cli) -> None:
    os.mkfifo(git_repo / "pipe.bin")
    refused(run_cli("add", "pipe.bin"), "pipe.bin", "not a regular file")
    (git_repo / "dvc.yaml").write_text("stages:\n  s: {cmd: echo hi, deps: [pipe.bin]}\n")
    refused(run_cli("status"), "not a regular file")
    refused(run_cli("repro"), "not a regular file")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("x" * 300, "longer than the file system allows"),
        ("/".join(["d" * 200] * 25), "longer than the file system allows"),
        ("a\nb.txt", "control character"),
        ("a\rb.txt", "control character"),
        ("tab\t.txt", "control character"),
        ("esc\x1b[31m.txt", "control character"),
    ],
    ids=["long-name", "long-path", "newline", "cr", "tab", "escape"],
)
def test_unusable_output_names_are_refused(git_repo: Path, run_cli, path: str, message: str) -> None:
    refused(run_cli("stage", "add", "-n", "s", "-o", path, "echo"), message)
    assert not (git_repo / "dvc.yaml").exists()
    assert not (git_repo / ".gitignore").exists()


def test_unicode_paths_and_values_work(git_repo: Path, run_cli) -> None:
    commit_files(git_repo, {"params.yaml": yaml.safe_dump({"name": "naïve ✓"}, allow_unicode=True)}, "params")
    ok(run_cli("stage", "add", "-n", "u", "-p", "name", "-o", "résumé ✓.txt", "echo ${name} > 'résumé ✓.txt'"))
    ok(run_cli("repro"))
    assert (git_repo / "résumé ✓.txt").read_text() == "naïve ✓\n"
    assert "/résumé ✓.txt" in (git_repo / ".gitignore").read_text()
    ok(run_cli("exp", "run", "-S", "name=日本語"))
    assert (git_repo / "résumé ✓.txt").read_text() == "日本語\n"
    assert git(git_repo, "fsck", "--no-progress") == ""


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("../elsewhere/keep.txt", "outside the repository"),
        ("/etc/hostname", "outside the repository"),
        ("link-out", "outside the repository"),
        (".git/config", "inside '.git'"),
        (".dvc/config", "inside '.dvc'"),
        (".", "the whole repository"),
        ("missing.csv", "does not exist"),
    ],
)
def test_add_refuses_what_it_must_not_track(git_repo: Path, run_cli, outside: Path, target: str, message: str) -> None:
    os.symlink(outside / "keep.txt", git_repo / "link-out")
    config = (git_repo / ".git" / "config").read_bytes()
    refused(run_cli("add", target), message)
    assert (git_repo / ".git" / "config").read_bytes() == config
    assert not [p for p in git_repo.rglob("*.dvc") if p.is_file()], "no .dvc file written"


BROKEN_FILES = [
    ("dvc.lock", "- x\n", ["status"], "'dvc.lock' must be a mapping"),
    ("dvc.lock", "garbage: [\n", ["status"], "'dvc.lock' is not valid YAML"),
    ("dvc.lock", "schema: '2.0'\nstages:\n  s: [1]\n", ["status"], "dvc.lock"),
    (".dvc/config", "[core\n", ["status"], "'.dvc/config' is invalid"),
    (".dvc/config", "[cache]\n  type = teleport\n", ["repro"], "teleport"),
    ("params.yaml", "lr: [1\n", ["status"], "params.yaml"),
    ("params.yaml", "\xff\xfe binary", ["status"], "params.yaml"),
    ("m.json", "{not json", ["metrics", "show"], "m.json"),
    ("m.json", "[1, 2]", ["metrics", "show"], "m.json"),
]


@pytest.mark.parametrize(("name", "content", "command", "message"), BROKEN_FILES, ids=[f"{n}:{c[:12]!r}" for n, c, _, _ in BROKEN_FILES])
def test_broken_files_are_clear_errors_and_are_left_alone(
    git_repo: Path, run_cli, name: str, content: str, command: list[str], message: str
) -> None:
    commit_files(
        git_repo,
        {
            "params.yaml": "lr: 1\n",
            "m.json": '{"acc": 1}',
            "dvc.yaml": "stages:\n  s:\n    cmd: echo\n    params: [lr]\n    outs: [o]\n"
            "    metrics: [{m.json: {cache: false}}]\n",
        },
        "pipeline",
    )
    (git_repo / name).write_bytes(content.encode("latin-1"))
    result = run_cli(*command)
    text = result.out + result.err
    assert "Traceback" not in text
    assert message in text, text
    assert (git_repo / name).read_bytes() == content.encode("latin-1")


def test_a_params_file_that_is_a_directory(git_repo: Path, run_cli) -> None:
    (git_repo / "p.yaml").mkdir()
    (git_repo / "dvc.yaml").write_text("stages:\n  s: {cmd: echo, params: [{p.yaml: [a]}]}\n")
    refused(run_cli("status"), "'p.yaml' is a directory")


@pytest.mark.parametrize(
    "override",
    ["lr", "=1", "no.such.key=1", "lr.deeper=1", "+lr=2", "~missing", "a\nb=1"],
)
def test_bad_set_params_are_errors_and_leave_params_alone(git_repo: Path, run_cli, override: str) -> None:
    commit_files(
        git_repo,
        {"params.yaml": "lr: 1\n", "dvc.yaml": "stages:\n  s: {cmd: echo, params: [lr]}\n"},
        "pipeline",
    )
    refused(run_cli("exp", "run", "-S", override))
    assert (git_repo / "params.yaml").read_text() == "lr: 1\n"


def test_a_stage_name_from_a_hand_written_dvc_yaml_with_a_newline(git_repo: Path, run_cli) -> None:
    (git_repo / "dvc.yaml").write_text('stages:\n  "a\\nb": {cmd: echo}\n')
    result = run_cli("status")
    assert "Traceback" not in result.out + result.err


@pytest.mark.parametrize("name", ["a b", "-x", "x/y", "", "é" * 300, "a:b"])
def test_stage_add_refuses_bad_stage_names(git_repo: Path, run_cli, name: str) -> None:
    refused(run_cli("stage", "add", f"--name={name}", "echo"), "stage name")
    assert not (git_repo / "dvc.yaml").exists()
