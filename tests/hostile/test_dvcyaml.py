"""Broken, hostile or huge dvc.yaml and params files: a clear error before anything is deleted or run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from conftest import commit_files, git, ok

from hostile import refused

RUN = f"{sys.executable} -c \"open('ran', 'w').write('yes')\""


@pytest.fixture
def built(git_repo: Path, run_cli) -> Path:
    """A reproduced stage whose output (a user's trained model) must survive a later broken dvc.yaml."""
    commit_files(
        git_repo,
        {
            "dvc.yaml": f"stages:\n  train:\n    cmd: {sys.executable} -c \"open('model.pkl', 'w').write('trained')\"\n"
            "    params: [lr]\n    outs: [model.pkl]\n",
            "params.yaml": "lr: 1\n",
            ".gitignore": "/model.pkl\n",
        },
        "pipeline",
    )
    ok(run_cli("repro"))
    return git_repo


def broken(root: Path, field: str) -> None:
    text = (root / "dvc.yaml").read_text()
    (root / "dvc.yaml").write_text(text.replace("    params: [lr]\n", f"    params: [lr]\n{field}\n"))


TEMPLATE_ERRORS = [
    ("    desc: run ${lr", "unterminated '${'"),
    ("    deps: ['${lr']", "unterminated '${'"),
    ("    deps: ['${nosuch}']", "Could not find 'nosuch'"),
    ("    deps: ['${a${b}}']", "nested interpolation is not supported"),
    ("    deps: ['${lr.}']", "ParseException"),
    ("    deps: ['${}']", "ParseException"),
    ("    deps: ['${lr[0]}']", "Could not find 'lr.0'"),
    ("    vars: [x.yaml]", "'x.yaml' does not exist"),
    ("    vars: [{lr: 2}]", "cannot redefine 'lr'"),
    ("    wdir: ${nosuch}", "Could not find 'nosuch'"),
]


@pytest.mark.parametrize(("field", "message"), TEMPLATE_ERRORS, ids=[f for f, _ in TEMPLATE_ERRORS])
def test_a_templating_error_leaves_the_outputs_and_runs_nothing(built: Path, run_cli, field: str, message: str) -> None:
    broken(built, field)
    (built / "params.yaml").write_text("lr: 2\n")  # the stage is out of date: repro would delete model.pkl
    refused(run_cli("repro"), "dvc.yaml", "train", message)
    assert (built / "model.pkl").read_text() == "trained"
    refused(run_cli("exp", "run"), message)
    assert (built / "model.pkl").read_text() == "trained"


def test_an_unterminated_interpolation_in_cmd_never_reaches_the_shell(built: Path, run_cli) -> None:
    text = (built / "dvc.yaml").read_text().replace("open('model.pkl'", "open('${lr'")
    (built / "dvc.yaml").write_text(text)
    refused(run_cli("repro", "-f"), "stages.train.cmd", "unterminated '${'")
    assert (built / "model.pkl").read_text() == "trained"


def test_a_set_param_that_breaks_the_template_leaves_the_outputs(built: Path, run_cli) -> None:
    text = (built / "dvc.yaml").read_text().replace("params: [lr]", "params: [lr]\n    desc: ${lr.deep}")
    (built / "dvc.yaml").write_text(text)
    refused(run_cli("exp", "run", "-S", "lr=3"), "Could not find 'lr.deep'")
    assert (built / "model.pkl").read_text() == "trained"


DOCUMENTS = [
    ("- a\n- b\n", "expected a dictionary"),
    ("just a string\n", "expected a dictionary"),
    ("42\n", "expected a dictionary"),
    ("stages: [a, b]\n", "expected a dictionary in 'stages'"),
    ("stages:\n  s: null\n", "expected a dictionary in 'stages.s'"),
    ("stages:\n  s: {outs: [x]}\n", "required key not provided in 'stages.s.cmd'"),
    ("stages:\n  s: {cmd: 42}\n", "expected str in 'stages.s.cmd'"),
    ("stages:\n  s: {cmd: [echo, {a: 1}]}\n", "stages.s.cmd"),
    ("stages:\n  s: {cmd: echo, outs: x}\n", "expected list in 'stages.s.outs'"),
    ("stages:\n  s: {cmd: echo, outs: [42]}\n", "stages.s.outs"),
    ("stages:\n  s: {cmd: echo, outs: [{x: {cache: maybe}}]}\n", "expected bool"),
    ("stages:\n  s: {cmd: echo, bogus: 1}\n", "extra keys not allowed in 'stages.s.bogus'"),
    ("stages:\n  s: {cmd: echo\n", "dvc.yaml"),
    ("stages:\n\ts: {cmd: echo}\n", "dvc.yaml"),
    ("stages:\n  s: {cmd: echo}\n  s: {cmd: ls}\n", 'found duplicate key "s"'),
    ("stages:\n  s: {cmd: echo, outs: [a], outs: [b]}\n", 'found duplicate key "outs"'),
    ("[" * 50_000 + "]" * 50_000, "dvc.yaml"),
    ("stages:\n  s: {cmd: echo, desc: &d [*d]}\n", "dvc.yaml"),
    ("\x00\x01\x02binary", "dvc.yaml"),
    ("stages:\n  s: {cmd: echo, foreach: [1]}\n", "stages.s"),
    ("stages:\n  s: {foreach: 3, do: {cmd: echo}}\n", "stages.s.foreach"),
    ("stages:\n  s: {foreach: '${nosuch}', do: {cmd: echo}}\n", "Could not find 'nosuch'"),
    ("stages:\n  s: {matrix: {a: 3}, cmd: echo}\n", "stages.s.matrix"),
    ("vars: ['${x}']\nstages:\n  s: {cmd: echo}\n", "interpolating is not allowed"),
    ("vars: [/etc/passwd]\nstages:\n  s: {cmd: echo}\n", "vars"),
    ("vars: [../elsewhere/keep.txt]\nstages:\n  s: {cmd: echo}\n", "vars"),
]


@pytest.mark.parametrize(("document", "message"), DOCUMENTS, ids=[repr(d[:30]) for d, _ in DOCUMENTS])
@pytest.mark.parametrize("command", [["repro"], ["status"], ["stage", "list"], ["exp", "run"]])
def test_a_malformed_dvc_yaml_is_a_clear_error(
    git_repo: Path, run_cli, outside: Path, document: str, message: str, command: list[str]
) -> None:
    commit_files(git_repo, {"params.yaml": "lr: 1\n"}, "params")
    (git_repo / "dvc.yaml").write_text(document)
    refused(run_cli(*command), message)
    assert (git_repo / "dvc.yaml").read_text() == document
    assert not (git_repo / "ran").exists()


def test_alias_bombs_are_refused_quickly(git_repo: Path, run_cli) -> None:
    """The "billion laughs" document: nine levels of nine aliases would be 10^9 strings to interpolate."""
    lines = ['a0: &a0 ["${x}"]']
    lines += [f"a{i}: &a{i} [{', '.join(['*a' + str(i - 1)] * 9)}]" for i in range(1, 10)]
    (git_repo / "dvc.yaml").write_text("vars:\n  - x: 1\nstages:\n  s:\n    cmd: echo\n    meta:\n" + "".join(
        f"      {line}\n" for line in lines
    ))
    refused(run_cli("repro"), "dvc.yaml")


def test_a_list_valued_params_file_names_the_file_not_vars(git_repo: Path, run_cli) -> None:
    commit_files(git_repo, {"params.yaml": "- 1\n- 2\n", "dvc.yaml": "stages:\n  s: {cmd: echo}\n"}, "list params")
    text = refused(run_cli("repro"), "params.yaml", "expected a dictionary")
    assert "'vars'" not in text


def test_values_that_look_like_templates_are_not_interpolated_again(git_repo: Path, run_cli) -> None:
    """Recursive references: a params value of '${a}' is data, rendered once (no loop, no shell syntax)."""
    commit_files(
        git_repo,
        {
            "params.yaml": yaml.safe_dump({"a": "${a}", "b": "${a} ${b}"}),
            "dvc.yaml": f"stages:\n  s:\n    cmd: {sys.executable} -c \"import sys; open('o', 'w').write(sys.argv[1] + '|' + sys.argv[2])\" ${{a}} ${{b}}\n    outs: [o]\n",
        },
        "self reference",
    )
    ok(run_cli("repro"))
    assert (git_repo / "o").read_text() == "${a}|${a} ${b}"


def test_a_huge_params_file_is_refused_by_size(git_repo: Path, run_cli) -> None:
    commit_files(git_repo, {"dvc.yaml": "stages:\n  s: {cmd: echo, params: [lr]}\n"}, "pipeline")
    with (git_repo / "params.yaml").open("w") as f:
        f.write("lr: 1\nblob: '")
        f.write("x" * 100_000_000)
        f.write("'\n")
    refused(run_cli("repro"), "params.yaml", "MB")
    assert git(git_repo, "status", "--porcelain", "--", "dvc.yaml") == ""


def test_ten_thousand_stages_load_and_report_status(git_repo: Path, run_cli) -> None:
    stages = "".join(f"  s{i}:\n    cmd: echo {i}\n    deps: [in{i % 10}.txt]\n    outs: [out{i}.txt]\n" for i in range(10_000))
    (git_repo / "dvc.yaml").write_text("stages:\n" + stages)
    for i in range(10):
        (git_repo / f"in{i}.txt").write_text(str(i))
    status = ok(run_cli("status"))
    assert "s9999:" in status
    assert ok(run_cli("repro", "--dry", "s42")).count("echo 42") == 1


def test_a_ten_thousand_stage_chain_has_no_recursion_limit(git_repo: Path, run_cli) -> None:
    stages = "".join(
        f"  s{i}:\n    cmd: echo\n    deps: [c{i - 1}]\n    outs: [c{i}]\n" if i else "  s0:\n    cmd: echo\n    outs: [c0]\n"
        for i in range(10_000)
    )
    (git_repo / "dvc.yaml").write_text("stages:\n" + stages)
    assert "s9999" in ok(run_cli("status"))


def test_stage_vars_are_not_read_from_a_wdir_outside_the_repository(git_repo: Path, run_cli) -> None:
    (git_repo.parent / "other").mkdir()
    (git_repo.parent / "other" / "vars.yaml").write_text("secret: 42\n")
    (git_repo / "dvc.yaml").write_text(
        "stages:\n  s:\n    wdir: ../other\n    vars: [vars.yaml]\n    cmd: echo ${secret}\n"
    )
    text = refused(run_cli("stage", "list", "--json"), "stage working dir '../other' is outside of DVC repo")
    assert "42" not in text
