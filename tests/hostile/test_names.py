"""Experiment names follow Git's ref-name rules and never shadow a branch or tag; revisions and branch names
starting with '-' are refused before Git sees them; a -S value that is broken YAML is an error naming it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import commit_files, git, ok

from hostile import refused

DVC_YAML = f"stages:\n  s:\n    cmd: {sys.executable} -c \"open('out.txt', 'w').write('x')\"\n    params: [lr]\n    outs: [out.txt]\n"


@pytest.fixture
def project(git_repo: Path) -> Path:
    commit_files(git_repo, {"dvc.yaml": DVC_YAML, "params.yaml": "lr: 1\n", ".gitignore": "/out.txt\n"}, "base")
    git(git_repo, "tag", "v1")
    git(git_repo, "branch", "dev")
    return git_repo


def refs(root: Path) -> str:
    return git(root, "for-each-ref", "--format=%(refname)")


BAD_NAMES = [
    ("master", "a Git branch of that name exists"),
    ("dev", "a Git branch of that name exists"),
    ("v1", "a Git tag of that name exists"),
    ("-D", "Invalid experiment name"),
    ("--force", "Invalid experiment name"),
    ("a b", "Invalid experiment name"),
    ("a/b", "Invalid experiment name"),
    ("a..b", "Invalid experiment name"),
    ("x.lock", "Invalid experiment name"),
    ("@", "Invalid experiment name"),
    ("a@{1}", "Invalid experiment name"),
    ("a~1", "Invalid experiment name"),
    ("a^", "Invalid experiment name"),
    ("a:b", "Invalid experiment name"),
    ("a*", "Invalid experiment name"),
    (".hidden", "Invalid experiment name"),
    ("new\nline", "Invalid experiment name"),
    ("tab\tname", "Invalid experiment name"),
    ("x" * 300, "at most 255 bytes"),
]


@pytest.mark.parametrize(("name", "message"), BAD_NAMES, ids=[repr(n[:20]) for n, _ in BAD_NAMES])
@pytest.mark.parametrize("queue", [False, True], ids=["run", "queue"])
def test_bad_experiment_names_are_refused_before_anything_runs(
    project: Path, run_cli, name: str, message: str, queue: bool
) -> None:
    before = refs(project)
    refused(run_cli("exp", "run", *(["--queue"] if queue else []), f"--name={name}", "-S", "lr=2"), message)
    assert refs(project) == before
    assert (project / "params.yaml").read_text() == "lr: 1\n"
    assert not (project / "out.txt").exists()
    assert git(project, "fsck", "--no-progress") == ""


def test_a_unicode_name_is_a_valid_ref(project: Path, run_cli) -> None:
    ok(run_cli("exp", "run", "-n", "été-✓", "-S", "lr=2"))
    assert "été-✓" in ok(run_cli("exp", "list"))
    assert git(project, "fsck", "--no-progress") == ""


@pytest.mark.parametrize("branch", ["-D", "--delete", "a..b", "a b", "x.lock", "a//b", "a/", "HEAD", "@"])
def test_exp_branch_refuses_names_git_would_take_as_options_or_reject(project: Path, run_cli, branch: str) -> None:
    ok(run_cli("exp", "run", "-n", "e1", "-S", "lr=2"))
    before = refs(project)
    refused(run_cli("exp", "branch", "e1", "--", branch), "Invalid Git branch name")
    assert refs(project) == before


@pytest.mark.parametrize(
    "command",
    [
        ["exp", "diff", "--", "-D"],
        ["metrics", "diff", "--", "-D"],
        ["params", "diff", "--", "-D", "HEAD"],
        ["exp", "list", "--", "-D"],
        ["exp", "apply", "--", "-D"],
        ["exp", "remove", "--", "-D"],
    ],
    ids=lambda words: " ".join(words),
)
def test_revisions_starting_with_a_dash_are_refused(project: Path, run_cli, command: list[str]) -> None:
    before = refs(project)
    refused(run_cli(*command), "-D")
    assert refs(project) == before


def test_the_api_refuses_a_dash_revision_too(project: Path) -> None:
    from jupyter_exp import Repo
    from jupyter_exp.errors import SCMError

    with pytest.raises(SCMError, match="cannot start with '-'"):
        Repo(project).scm.resolve("-D")


@pytest.mark.parametrize("value", ["[1,", "{a: 1", "'open", '"open', "[1, {b: ]"])
@pytest.mark.parametrize("queue", [False, True], ids=["run", "queue"])
def test_a_set_param_that_is_broken_yaml_is_an_error_naming_it(
    project: Path, run_cli, value: str, queue: bool
) -> None:
    before = refs(project)
    refused(run_cli("exp", "run", *(["--queue"] if queue else []), "-S", f"lr={value}"), repr(value), "not valid YAML")
    assert (project / "params.yaml").read_text() == "lr: 1\n"
    assert refs(project) == before


def test_a_quoted_broken_value_is_the_string_it_says(project: Path, run_cli) -> None:
    ok(run_cli("exp", "run", "-S", "lr='[1,'"))
    assert (project / "params.yaml").read_text() == "lr: '[1,'\n"
