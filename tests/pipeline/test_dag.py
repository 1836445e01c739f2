"""The stage graph: invalid pipelines are errors naming both stages; ``dag`` as ASCII, DOT and Mermaid."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_exp.errors import PipelineError
from jupyter_exp.repo import Repo


def pipeline(root: Path, stages: str) -> None:
    (root / "dvc.yaml").write_text("stages:\n" + stages)


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        (
            "  a: {cmd: cp b.txt a.txt, deps: [b.txt], outs: [a.txt]}\n"
            "  b: {cmd: cp a.txt b.txt, deps: [a.txt], outs: [b.txt]}\n",
            "pipeline has a cycle involving: 'a', 'b'",
        ),
        (
            "  first: {cmd: echo > x, outs: [x]}\n  second: {cmd: echo > x, outs: [x]}\n",
            "output 'x' is already specified in stage: 'first' (and again in 'second')",
        ),
        (
            "  whole: {cmd: mkdir -p d, outs: [d]}\n  part: {cmd: echo > d/f, outs: [d/f]}\n",
            "the output paths overlap: 'd' of stage 'whole' contains 'd/f' of stage 'part'",
        ),
        (
            "  loop: {cmd: echo, deps: [o.txt], outs: [o.txt]}\n",
            "stage 'loop' depends on its own output 'o.txt'",
        ),
    ],
    ids=["cycle", "same-output", "overlap", "self"],
)
def test_invalid_graphs_name_the_stages(git_repo: Path, run_cli, stages: str, message: str) -> None:
    pipeline(git_repo, stages)
    with pytest.raises(PipelineError) as info:
        Repo(git_repo).pipeline.graph()
    assert message in str(info.value)
    for command in (("repro",), ("status",), ("dag",)):
        result = run_cli(*command)
        assert result.code == 1 and message in result.err and "Traceback" not in result.err


def test_cycle_across_dvc_files_names_the_other_file(git_repo: Path) -> None:
    pipeline(git_repo, "  top: {cmd: echo, deps: [sub/s.txt], outs: [t.txt]}\n")
    (git_repo / "sub").mkdir()
    (git_repo / "sub" / "dvc.yaml").write_text("stages:\n  low: {cmd: echo, deps: [../t.txt], outs: [s.txt]}\n")
    with pytest.raises(PipelineError, match="cycle involving: 'top', 'sub/dvc.yaml:low'"):
        Repo(git_repo).pipeline.graph()


def test_overlapping_output_in_another_dvc_file(git_repo: Path) -> None:
    pipeline(git_repo, "  top: {cmd: mkdir -p sub/out, outs: [sub/out]}\n")
    (git_repo / "sub").mkdir()
    (git_repo / "sub" / "dvc.yaml").write_text("stages:\n  low: {cmd: echo, outs: [out/f.txt]}\n")
    with pytest.raises(PipelineError) as info:
        Repo(git_repo).pipeline.graph()
    assert "'sub/out' of stage 'top' contains 'sub/out/f.txt' of stage 'sub/dvc.yaml:low'" in str(info.value)


DIAMOND = (
    "  prep: {cmd: echo, deps: [raw.csv], outs: [clean.csv]}\n"
    "  left: {cmd: echo, deps: [clean.csv], outs: [l.txt]}\n"
    "  right: {cmd: echo, deps: [clean/../clean.csv], outs: [r.txt]}\n"
    "  join: {cmd: echo, deps: [l.txt, r.txt], outs: [j.txt]}\n"
    "  lonely: {cmd: echo, outs: [z.txt]}\n"
)


def test_dag_ascii(git_repo: Path, run_cli) -> None:
    pipeline(git_repo, DIAMOND)
    assert run_cli("dag").out.splitlines() == [
        "+-- prep",
        "    +-- left  <- prep",
        "    +-- right  <- prep",
        "        +-- join  <- left, right",
        "+-- lonely",
    ]
    assert run_cli("dag", "left").out.splitlines() == ["+-- prep", "    +-- left  <- prep"]


def test_dag_dot_and_mermaid(git_repo: Path, run_cli) -> None:
    pipeline(git_repo, DIAMOND)
    assert run_cli("dag", "--dot").out.splitlines() == [
        "strict digraph {",
        '\t"prep";',
        '\t"left";',
        '\t"right";',
        '\t"join";',
        '\t"lonely";',
        '\t"prep" -> "left";',
        '\t"prep" -> "right";',
        '\t"left" -> "join";',
        '\t"right" -> "join";',
        "}",
    ]
    mermaid = run_cli("dag", "--mermaid", "join").out.splitlines()
    assert mermaid == [
        "flowchart TD",
        '\tnode1["prep"]',
        '\tnode2["left"]',
        '\tnode3["right"]',
        '\tnode4["join"]',
        "\tnode1-->node2",
        "\tnode1-->node3",
        "\tnode2-->node4",
        "\tnode3-->node4",
    ]


def test_deps_inside_or_around_outputs_link_the_stages(git_repo: Path) -> None:
    pipeline(
        git_repo,
        "  unpack: {cmd: echo, outs: [data/raw]}\n"
        "  read: {cmd: echo, deps: [data/raw/part/1.csv], outs: [data/r.txt]}\n"
        "  whole: {cmd: echo, deps: [data], outs: [w.txt]}\n",
    )
    graph = Repo(git_repo).pipeline.graph()
    assert graph.upstream["read"] == {"unpack"}  # a file inside a directory output
    assert graph.upstream["whole"] == {"unpack", "read"}  # a directory holding outputs
    assert graph.order == ["unpack", "read", "whole"]
