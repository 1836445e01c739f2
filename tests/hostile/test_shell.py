"""A params value interpolated into ``cmd`` is one shell word, whatever its characters: from ``repro``, from
``exp run -S`` (CLI and ``%exp``), from the queue. DVC 3.67.1 pastes it verbatim (README, Reliability)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import commit_files, ok

ARGV = "import json, sys\njson.dump(sys.argv[1:], open('argv.json', 'w'))\n"
# unquoted, in double quotes, in single quotes, glued to a flag
CMD = f"{sys.executable} argv.py ${{p.v}} \"${{p.v}}\" '${{p.v}}' --flag=${{p.v}}"
VALUES = [
    "1; touch PWNED",
    "$(touch PWNED)",
    "`touch PWNED`",
    "x && touch PWNED",
    "x | tee PWNED",
    "x > PWNED",
    "it's",
    'say "hi"',
    "a b",
    "back\\slash",
    "new\nline",
    "*",
    "~",
    "$HOME",
    "",
    "--help",
    "tab\there",
    "ünï çødé ✓",
    "'; touch PWNED; '",
    '"; touch PWNED; "',
]


def pipeline(root: Path, value: Any) -> None:
    commit_files(
        root,
        {
            "argv.py": ARGV,
            "params.yaml": yaml.safe_dump({"p": {"v": value}}),
            "dvc.yaml": yaml.safe_dump({"stages": {"s": {"cmd": CMD, "params": ["p.v"], "outs": ["argv.json"]}}}),
            ".gitignore": "/argv.json\n",
        },
        "argv pipeline",
    )


def argv(root: Path) -> list[str]:
    return json.loads((root / "argv.json").read_text())


@pytest.mark.parametrize("value", VALUES, ids=[repr(v) for v in VALUES])
def test_repro_passes_each_value_as_one_word(git_repo: Path, run_cli, value: str) -> None:
    pipeline(git_repo, value)
    ok(run_cli("repro"))
    assert argv(git_repo) == [value, value, value, f"--flag={value}"]
    assert not (git_repo / "PWNED").exists()


@pytest.mark.parametrize("override", ["p.v=1; touch PWNED", "p.v=$(id)", "p.v=`id`"])
def test_exp_run_set_param_is_data(git_repo: Path, run_cli, override: str) -> None:
    pipeline(git_repo, "plain")
    ok(run_cli("exp", "run", "-S", override))
    value = override.partition("=")[2]
    assert argv(git_repo) == [value, value, value, f"--flag={value}"]
    assert not (git_repo / "PWNED").exists()


def test_the_queue_runs_the_same_words(git_repo: Path, run_cli) -> None:
    pipeline(git_repo, "plain")
    ok(run_cli("exp", "run", "--queue", "-S", "p.v=1; touch PWNED", "-n", "q1"))
    ok(run_cli("exp", "run", "--run-all"))
    assert not (git_repo / "PWNED").exists()
    ok(run_cli("exp", "apply", "q1"))
    assert argv(git_repo)[0] == "1; touch PWNED"


def test_the_magics_run_the_same_words(git_repo: Path) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    pipeline(git_repo, "plain")
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jupyter_exp")
    with capture_output():
        result = shell.run_cell("%exp run -S 'p.v=$(touch PWNED)'")
    assert result.success, result.error_in_exec
    assert argv(git_repo)[0] == "$(touch PWNED)"
    assert not (git_repo / "PWNED").exists()


def test_a_whole_command_from_a_variable_stays_a_command(git_repo: Path, run_cli) -> None:
    """``cmd: ${cmd}`` is the author's command (DVC's reading); only values inside a command are words."""
    commit_files(
        git_repo,
        {
            "argv.py": ARGV,
            "dvc.yaml": yaml.safe_dump(
                {"vars": [{"c": f"{sys.executable} argv.py a b"}], "stages": {"s": {"cmd": "${c}", "outs": ["argv.json"]}}}
            ),
        },
        "whole command",
    )
    ok(run_cli("repro"))
    assert argv(git_repo) == ["a", "b"]


def test_dict_values_keep_dvcs_flags(git_repo: Path, run_cli) -> None:
    commit_files(
        git_repo,
        {
            "argv.py": ARGV,
            "params.yaml": yaml.safe_dump(
                {"opts": {"lr": "1; touch PWNED", "n": 2, "on": True, "l": [1, "a b"]}}, sort_keys=False
            ),
            "dvc.yaml": yaml.safe_dump(
                {"stages": {"s": {"cmd": f"{sys.executable} argv.py ${{opts}}", "outs": ["argv.json"]}}}
            ),
        },
        "dict flags",
    )
    ok(run_cli("repro"))
    assert argv(git_repo) == ["--lr", "1; touch PWNED", "--n", "2", "--on", "--l", "1", "a b"]
    assert not (git_repo / "PWNED").exists()


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("%%stage bad -o ../elsewhere.txt\ncmd: echo hi\n", "path is outside of repository"),
        ("%%stage bad -o .git/config\ncmd: echo hi\n", "is inside '.git'"),
        ("%%stage bad\ncmd: echo ${lr\n", "unterminated '${'"),
        ("%exp run -S 'p.v=[1,'", "not valid YAML"),
        ("%exp run -n master", "a Git branch of that name exists"),
    ],
)
def test_the_magics_refuse_what_the_cli_refuses(git_repo: Path, cell: str, message: str) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    pipeline(git_repo, "plain")
    before = (git_repo / "dvc.yaml").read_text()
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jupyter_exp")
    with capture_output():
        result = shell.run_cell(cell)
    assert not result.success
    assert message in str(result.error_in_exec)
    assert (git_repo / "dvc.yaml").read_text() == before
    assert (git_repo / "params.yaml").read_text() == yaml.safe_dump({"p": {"v": "plain"}})
