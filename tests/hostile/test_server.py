"""The REST API: only repositories at or below the server's root, and every body checked by the CLI's rules."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from server.conftest import Server, git, make_project
from server.conftest import server as base_server  # noqa: F401  (a server of this module's own)

from jupyter_exp.repo import Repo


@pytest.fixture(scope="module")
def served(base_server: Server) -> Iterator[Server]:  # noqa: F811
    """The server's root made the sub-folder of a repository (``repo/sub`` served): ``repo`` must stay hidden."""
    outer = base_server.root.parent
    git(outer, "init", "-q", "-b", "main")
    Repo.init(outer)
    yield base_server


@pytest.fixture
def project(served: Server, request: pytest.FixtureRequest, git_identity: None) -> Path:
    return make_project(served.root / f"p{len(list(served.root.iterdir()))}", {"fast": ["train.lr=0.2"]})


def refs(root: Path) -> str:
    return git(root, "for-each-ref", "--format=%(refname)")


def test_a_repository_enclosing_the_root_is_not_served(served: Server) -> None:
    outer = served.root.parent
    before = refs(outer)
    for reply in (
        served.get("experiments", path=""),
        served.get("status", path=""),
        served.post("run", {"path": "", "params": [], "queue": True}),
        served.post("run_all", {"path": ""}),
        served.post("remove", {"path": "", "names": ["x"]}),
    ):
        assert reply.status == 404, reply.body
        assert "encloses the folder the server serves" in reply.json["error"]
    assert refs(outer) == before


def test_a_symlink_out_of_the_root_is_outside(served: Server, tmp_path: Path, git_identity: None) -> None:
    elsewhere = make_project(tmp_path / "elsewhere", {})
    os.symlink(elsewhere, served.root / "link")
    try:
        reply = served.get("experiments", path="link")
        assert reply.status == 400 and "outside the folder the server serves" in reply.json["error"]
        assert served.get("experiments", path="link/../..").status == 400
    finally:
        (served.root / "link").unlink()


@pytest.mark.parametrize(
    ("endpoint", "body", "message"),
    [
        ("branch", {"rev": "fast", "branch": "-D"}, "Invalid Git branch name"),
        ("branch", {"rev": "fast", "branch": "a..b"}, "Invalid Git branch name"),
        ("branch", {"rev": "-D", "branch": "x"}, "-D"),
        ("apply", {"rev": "--force"}, "--force"),
        ("run", {"params": [], "name": "main", "queue": True}, "a Git branch of that name exists"),
        ("run", {"params": [], "name": "-D", "queue": True}, "Invalid experiment name"),
        ("run", {"params": [], "name": "a b", "queue": True}, "Invalid experiment name"),
        ("run", {"params": ["train.lr=[1,"], "queue": True}, "not valid YAML"),
        ("run", {"params": ["train.lr"], "queue": True}, "has no value"),
        ("run", {"params": [1], "queue": True}, "'params' must be a list"),
        ("run", {"params": [], "queue": True, "force": True}, "unknown field(s) 'force'"),
        ("run_all", {"jobs": True}, "'jobs' must be a int"),
        ("run_all", {"jobs": 0}, "at least 1"),
        ("remove", {"names": ["-D"]}, "-D"),
        ("remove", {"names": []}, "non-empty list"),
        ("apply", {"rev": "fast", "force": "yes"}, "'force' must be a bool"),
    ],
    ids=lambda v: json.dumps(v) if isinstance(v, dict) else v,
)
def test_bodies_are_checked_like_the_cli(served: Server, project: Path, endpoint: str, body: dict, message: str) -> None:
    before = refs(project)
    reply = served.post(endpoint, {"path": project.name, **body})
    assert reply.status == 400, reply.body
    assert message in reply.json["error"], reply.json
    assert "Traceback" not in reply.json["error"]
    assert refs(project) == before


def test_the_queue_endpoint_passes_params_as_data(served: Server, project: Path) -> None:
    dvc_yaml = (project / "dvc.yaml").read_text().replace("train.py\n", "train.py ${train.note}\n", 1)
    (project / "dvc.yaml").write_text(dvc_yaml)
    (project / "params.yaml").write_text("train:\n  lr: 0.1\n  sleep: 0\n  note: plain\n")
    (project / "train.py").write_text(
        "import sys\n" + (project / "train.py").read_text() + "open('argv.txt', 'w').write(repr(sys.argv[1:]))\n"
    )
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "note")
    before = set(refs(project).split())
    reply = served.post("run", {"path": project.name, "params": ["train.note=$(touch PWNED); touch PWNED"], "queue": True})
    assert reply.status == 200, reply.body
    assert served.post("run_all", {"path": project.name}).status == 202
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = served.get("status", path=project.name).json["run"]
        if run and not run["running"]:
            break
        time.sleep(0.1)
    assert run["error"] is None, run
    assert not list(project.rglob("PWNED")), "the value ran as a shell command"
    (exp,) = [ref for ref in set(refs(project).split()) - before if ref.startswith("refs/exps/")]
    assert "/failed/" not in exp
    assert git(project, "show", f"{exp}:argv.txt") == repr(["$(touch PWNED); touch PWNED"])
