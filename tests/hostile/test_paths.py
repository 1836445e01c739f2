"""Paths of deps, outs, metrics, plots, params files and wdir: inside the repository, outside .git and .dvc,
one producer per output; checked by ``stage add`` and whenever dvc.yaml is loaded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import commit_files, git

from hostile import refused

BAD_OPTIONS = [
    (["-o", "/tmp/x/model.pkl"], "path is outside of repository"),
    (["-o", "../elsewhere/keep.txt"], "path is outside of repository"),
    (["-O", "../elsewhere/keep.txt"], "path is outside of repository"),
    (["-o", "sub/../../elsewhere/keep.txt"], "path is outside of repository"),
    (["-o", ".git/config"], "is inside '.git'"),
    (["-o", "sub/.git/config"], "is inside '.git'"),
    (["-o", ".dvc/config"], "is inside '.dvc'"),
    (["-o", ".dvc/cache/files/md5/00/x"], "is inside '.dvc'"),
    (["-o", "."], "is the whole repository"),
    (["-o", ""], "empty path"),
    (["-m", "/etc/passwd"], "path is outside of repository"),
    (["--plots", "../elsewhere"], "path is outside of repository"),
    (["-d", "../elsewhere/keep.txt", "-o", "out"], "path is outside of repository"),
    (["-d", "/etc/hostname", "-o", "out"], "path is outside of repository"),
    (["-p", "../elsewhere/p.yaml:lr", "-o", "out"], "path is outside of repository"),
    (["-p", "/etc/p.yaml:lr", "-o", "out"], "path is outside of repository"),
    (["-w", "..", "-o", "out"], "stage working dir '..' is outside of DVC repo"),
    (["-w", "/tmp", "-o", "out"], "stage working dir '/tmp' is outside of DVC repo"),
    (["-w", ".git", "-o", "out"], "inside '.git'"),
    (["--live", "../elsewhere/logs"], "path is outside of repository"),
    (["-c", "/tmp/ckpt.pt"], "path is outside of repository"),
]


@pytest.mark.parametrize(("options", "message"), BAD_OPTIONS, ids=[" ".join(o) for o, _ in BAD_OPTIONS])
def test_stage_add_refuses_paths_that_leave_the_repository(
    git_repo: Path, run_cli, outside: Path, options: list[str], message: str
) -> None:
    commit_files(git_repo, {"dvc.yaml": "stages:\n  keep: {cmd: echo}\n"}, "a pipeline")
    refused(run_cli("stage", "add", "-n", "bad", *options, "echo hi"), message)
    assert (git_repo / "dvc.yaml").read_text() == "stages:\n  keep: {cmd: echo}\n", "dvc.yaml changed"
    assert git(git_repo, "fsck", "--no-progress") == ""


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("/tmp/x/model.pkl", "path is outside of repository"),
        ("../elsewhere/keep.txt", "path is outside of repository"),
        (".git/config", "is inside '.git'"),
        (".dvc/tmp/x", "is inside '.dvc'"),
    ],
)
@pytest.mark.parametrize("command", [["repro"], ["status"], ["checkout"], ["stage", "list"]])
def test_a_dvc_yaml_written_by_hand_is_refused_by_every_command(
    git_repo: Path, run_cli, outside: Path, out: str, message: str, command: list[str]
) -> None:
    """The absolute output used to make ``repro`` spin forever; ``checkout`` wrote outside the repo."""
    config = (git_repo / ".git" / "config").read_bytes()
    (git_repo / "dvc.yaml").write_text(f"stages:\n  train:\n    cmd: echo hi > {out}\n    outs: [{out}]\n")
    refused(run_cli(*command), "'dvc.yaml' stage 'train'", message)
    assert (git_repo / ".git" / "config").read_bytes() == config
    assert not Path("/tmp/x/model.pkl").exists()


def test_an_output_of_another_stage_is_refused_with_dvcs_message(git_repo: Path, run_cli) -> None:
    commit_files(git_repo, {"dvc.yaml": "stages:\n  first: {cmd: echo > x, outs: [x]}\n"}, "a pipeline")
    refused(
        run_cli("stage", "add", "-n", "second", "-o", "x", "echo > x"),
        "output 'x' is already specified in stage: 'first'",
    )
    assert "second" not in (git_repo / "dvc.yaml").read_text()
    refused(run_cli("stage", "add", "-n", "third", "-o", "./sub/../x", "echo > x"), "already specified")


def test_an_output_under_a_symlink_that_leaves_the_repository_is_refused(
    git_repo: Path, run_cli, outside: Path
) -> None:
    os.symlink(outside, git_repo / "link")
    refused(run_cli("stage", "add", "-n", "s", "-o", "link/keep.txt", "echo hi > link/keep.txt"), "symlink")
    (git_repo / "dvc.yaml").write_text("stages:\n  s:\n    cmd: echo hi > keep.txt\n    wdir: link\n    outs: [keep.txt]\n")
    refused(run_cli("repro"), "symlink")


def test_a_symlinked_directory_inside_the_repository_is_fine(git_repo: Path, run_cli) -> None:
    (git_repo / "real").mkdir()
    os.symlink("real", git_repo / "alias")
    result = run_cli("stage", "add", "-n", "s", "-o", "alias/out.txt", "echo hi > alias/out.txt")
    assert result.code == 0, result.err
    assert run_cli("repro").code == 0
    assert (git_repo / "real" / "out.txt").read_text() == "hi\n"


def test_the_api_and_the_magics_path_use_the_same_check(git_repo: Path) -> None:
    from jupyter_exp import Repo
    from jupyter_exp.errors import YAMLFileError

    repo = Repo(git_repo)
    with pytest.raises(YAMLFileError, match="path is outside of repository"):
        repo.add_stage("bad", {"cmd": "echo", "outs": ["../x"]})
    assert not (git_repo / "dvc.yaml").exists()
    assert repo.add_stage("good", {"cmd": "echo", "outs": ["x"]}) is False


def test_a_data_file_pointing_outside_is_refused(git_repo: Path, run_cli, outside: Path) -> None:
    (git_repo / "evil.dvc").write_text("outs:\n- md5: d41d8cd98f00b204e9800998ecf8427e\n  path: ../elsewhere/keep.txt\n")
    refused(run_cli("checkout"), "'evil.dvc'", "path is outside of repository")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["-o", "d/f"], "the output paths overlap"),
        (["-d", "o.txt", "-o", "o.txt"], "depends on its own output"),
        (["-o", "x", "-o", "x"], "declared twice"),
    ],
    ids=["overlap", "self-dep", "twice"],
)
def test_stage_add_refuses_a_graph_the_next_command_would_refuse(
    git_repo: Path, run_cli, options: list[str], message: str
) -> None:
    commit_files(git_repo, {"dvc.yaml": "stages:\n  whole: {cmd: mkdir -p d, outs: [d]}\n"}, "a pipeline")
    refused(run_cli("stage", "add", "-n", "bad", *options, "echo"), message)
    assert (git_repo / "dvc.yaml").read_text() == "stages:\n  whole: {cmd: mkdir -p d, outs: [d]}\n"
    assert run_cli("status").code == 0
