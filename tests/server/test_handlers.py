"""The ``/jupyter-exp/api/`` handlers on a real ``jupyter server`` over real repositories.

What the JupyterLab panel relies on: the rows of ``exp show``, the actions changing the repository as
the CLI would, user errors as ``{"error"}`` with 400/404, authentication and XSRF as every Jupyter API,
and a server that keeps answering while the experiment queue runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

from jupyter_exp.repo import Repo

from .conftest import Server, git

KINDS = ["workspace", "baseline", "experiment", "experiment"]


def rows_of(server: Server, path: str) -> list[dict]:
    reply = server.get("experiments", path=path)
    assert reply.status == 200, reply.body
    return reply.json["rows"]


def by_name(rows: list[dict]) -> dict[str, dict]:
    return {row["name"]: row for row in rows if row["name"]}


def wait_for_queue(server: Server, path: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = server.get("status", path=path).json
        if status["run"] and not status["run"]["running"]:
            return status
        time.sleep(0.1)
    raise AssertionError(f"the queue of {path} still runs after {timeout} s: {status}")


def test_experiments_lists_exp_show_rows_from_any_folder_of_the_repo(server: Server, project: Path) -> None:
    (project / "data" / "raw").mkdir(parents=True)
    reply = server.get("experiments", path=project.name)
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("application/json")
    data = reply.json
    assert data["root"] == project.name
    assert [row["kind"] for row in data["rows"]] == KINDS
    names = by_name(data["rows"])
    assert names["fast"]["params"]["params.yaml"]["train.lr"] == 0.2
    assert names["fast"]["metrics"]["metrics.json"] == {"loss": 0.8, "acc": 0.2}
    assert names["slow"]["metrics"]["metrics.json"]["loss"] == 0.95
    assert names["main"]["kind"] == "baseline"
    assert set(data["rows"][2]) >= {"rev", "experiment", "baseline", "parent", "checkpoint_tip", "error"}
    assert server.get("experiments", path=f"{project.name}/data/raw").json == data


def test_experiments_carries_the_cores_view_sorted_and_filtered_as_asked(server: Server, project: Path) -> None:
    loss, lr = "metrics:metrics.json:loss", "params:params.yaml:train.lr"
    data = server.get("experiments", path=project.name).json
    revs = {row["name"] or row["kind"]: row["rev"] for row in data["rows"]}
    assert data["order"] == [row["rev"] for row in data["rows"]]  # no sort: exp show's order
    assert {loss, lr} <= {c["id"] for c in data["columns"]}
    assert data["best"][loss] == min(row["metrics"]["metrics.json"]["loss"] for row in data["rows"])
    ranked = server.get("experiments", path=project.name, sort=loss, desc="1").json["order"]
    assert ranked == [revs["workspace"], revs["main"], revs["slow"], revs["fast"]]  # loss 0.95, then 0.8
    assert server.get("experiments", path=project.name, sort=loss).json["order"][2:] == [revs["fast"], revs["slow"]]
    only = server.get("experiments", path=project.name, filter="train.lr<0.1").json["order"]
    assert only == [revs["workspace"], revs["main"], revs["slow"]]
    bad = server.get("experiments", path=project.name, sort="metrics:nope.json:x")
    assert bad.status == 400 and "no column 'metrics:nope.json:x'" in bad.json["error"]


def test_no_repository_is_404_with_a_message_and_paths_stay_inside_the_root(server: Server) -> None:
    (server.root / "plain").mkdir(exist_ok=True)
    reply = server.get("experiments", path="plain")
    assert reply.status == 404
    assert "is not inside a Git repository" in reply.json["error"]
    assert reply.json["type"] == "NotARepoError"
    missing = server.get("experiments", path="no/such/folder")
    assert missing.status == 404 and "'no/such/folder' is not a folder" in missing.json["error"]
    outside = server.get("experiments", path="../..")
    assert outside.status == 400 and "outside the folder the server serves" in outside.json["error"]


def test_apply_brings_the_experiment_into_the_workspace_and_refuses_to_lose_edits(
    server: Server, project: Path
) -> None:
    reply = server.post("apply", {"path": project.name, "rev": "fast"})
    assert reply.status == 200, reply.body
    assert yaml.safe_load((project / "params.yaml").read_text())["train"]["lr"] == 0.2
    assert reply.json["rev"] == by_name(rows_of(server, project.name))["fast"]["rev"]
    workspace = rows_of(server, project.name)[0]
    assert workspace["params"]["params.yaml"]["train.lr"] == 0.2

    (project / "train.py").write_text((project / "train.py").read_text() + "# my edit\n")
    refused = server.post("apply", {"path": project.name, "rev": "slow"})
    assert refused.status == 400
    assert refused.json["type"] == "DirtyWorkspaceError" and "train.py" in refused.json["error"]
    assert "# my edit" in (project / "train.py").read_text()
    forced = server.post("apply", {"path": project.name, "rev": "slow", "force": True})
    assert forced.status == 200
    assert yaml.safe_load((project / "params.yaml").read_text())["train"]["lr"] == 0.05

    unknown = server.post("apply", {"path": project.name, "rev": "nope"})
    assert unknown.status == 400 and "nope" in unknown.json["error"]


def test_branch_creates_a_git_branch_at_the_experiment(server: Server, project: Path) -> None:
    fast = by_name(rows_of(server, project.name))["fast"]
    reply = server.post("branch", {"path": project.name, "rev": "fast", "branch": "big-lr"})
    assert reply.status == 200, reply.body
    assert "Git branch 'big-lr' has been created from experiment 'fast'" in reply.json["messages"][0]
    assert git(project, "rev-parse", "big-lr") == fast["rev"]
    again = server.post("branch", {"path": project.name, "rev": "fast", "branch": "big-lr"})
    assert again.status == 400 and "big-lr" in again.json["error"]
    missing = server.post("branch", {"path": project.name, "rev": "fast"})
    assert missing.status == 400 and missing.json["error"] == "'branch' is required"


def test_remove_drops_experiments_by_name(server: Server, project: Path) -> None:
    reply = server.post("remove", {"path": project.name, "names": ["slow"]})
    assert reply.status == 200, reply.body
    assert reply.json["removed"] == ["slow"]
    assert set(by_name(rows_of(server, project.name))) == {"main", "fast"}
    assert git(project, "for-each-ref", "--format=%(refname)", "refs/exps").endswith("/fast")
    unknown = server.post("remove", {"path": project.name, "names": ["slow"]})
    assert unknown.status == 400 and "slow" in unknown.json["error"]
    empty = server.post("remove", {"path": project.name, "names": []})
    assert empty.status == 400 and "non-empty list" in empty.json["error"]


def test_run_only_queues_and_rejects_malformed_requests(server: Server, project: Path) -> None:
    before = (project / "params.yaml").read_text()
    reply = server.post("run", {"path": project.name, "params": ["train.lr=0.3"], "queue": True})
    assert reply.status == 200, reply.body
    assert reply.json["queued"] and reply.json["messages"] == [
        f"Queued experiment '{reply.json['name']}' for future execution."
    ]
    assert (project / "params.yaml").read_text() == before
    queued = [row for row in rows_of(server, project.name) if row["kind"] == "queued"]
    assert len(queued) == 1 and queued[0]["params"]["params.yaml"]["train.lr"] == 0.3
    assert server.get("status", path=project.name).json["queued"] == 1

    not_queued = server.post("run", {"path": project.name, "params": ["train.lr=0.3"]})
    assert not_queued.status == 400 and "POST run_all" in not_queued.json["error"]
    bad_params = server.post("run", {"path": project.name, "params": "train.lr=0.3", "queue": True})
    assert bad_params.status == 400 and "'params' must be a list" in bad_params.json["error"]
    bad_key = server.post("run", {"path": project.name, "params": ["nosuch.key=1"], "queue": True})
    assert bad_key.status == 400 and "nosuch" in bad_key.json["error"]
    not_json = server.call("POST", "run", b"{not json")
    assert not_json.status == 400 and "not JSON" in not_json.json["error"]


def test_run_all_returns_at_once_and_the_server_answers_while_the_queue_runs(
    server: Server, project: Path
) -> None:
    path = project.name
    gate = project.with_name(f"{project.name}.gate")  # each queued training waits until the test opens it
    train = project / "train.py"
    train.write_text(f"import os, time\nwhile not os.path.exists({str(gate)!r}): time.sleep(0.05)\n"
                     + train.read_text())
    assert server.post("run", {"path": path, "params": ["train.lr=0.3"], "queue": True}).status == 200
    assert (
        server.post("run", {"path": path, "params": ["train.lr=0.4"], "name": "q2", "queue": True}).status
        == 200
    )
    try:
        reply = server.post("run_all", {"path": path})  # answered while the trainings cannot finish
        assert reply.status == 202 and reply.json["running"], reply.body
        again = server.post("run_all", {"path": path})
        assert again.status == 409 and "already running" in again.json["error"]
        status = server.get("status", path=path).json
        assert status["run"]["running"] and status["queued"] == 2
    finally:
        gate.touch()

    done = wait_for_queue(server, path)
    assert done["queued"] == 0 and done["run"]["error"] is None
    assert [r["error"] for r in done["run"]["results"]] == [None, None]
    rows = rows_of(server, path)
    assert not [row for row in rows if row["kind"] == "queued"]
    losses = sorted(row["metrics"]["metrics.json"]["loss"] for row in rows if row["kind"] == "experiment")
    assert losses == [0.6, 0.7, 0.8, 0.95]
    assert by_name(rows)["q2"]["params"]["params.yaml"]["train.lr"] == 0.4


def test_status_and_experiments_report_the_entry_a_worker_runs_now(server: Server, project: Path) -> None:
    path = project.name
    gate = project.with_name(f"{project.name}.gate")  # the queued training waits until the test opens it
    train = project / "train.py"
    wait = f"import os, time\nwhile not os.path.exists({str(gate)!r}): time.sleep(0.05)\n"
    train.write_text(wait + train.read_text())
    body = {"path": path, "params": ["train.lr=0.3"], "name": "busy", "queue": True}
    assert server.post("run", body).status == 200  # the workspace as it is, edited train.py included
    assert server.get("status", path=path).json["running"] == []
    assert server.post("run_all", {"path": path}).status == 202
    try:
        deadline = time.monotonic() + 30
        while server.get("status", path=path).json["running"] != ["busy"]:
            assert time.monotonic() < deadline, "the worker never showed as running"
            time.sleep(0.05)
        row = by_name(rows_of(server, path))["busy"]
        assert (row["kind"], row["running"]) == ("queued", True)
        assert row["experiment"].endswith(" *busy (running)")  # after its tree glyph
        (alone,) = server.get("running", path=path).json["rows"]  # that row alone, for frequent polls
        assert {**alone, "experiment": row["experiment"]} == row  # the glyph is the whole table's business
    finally:
        gate.touch()
    done = wait_for_queue(server, path)
    assert done["running"] == [] and done["run"]["results"][0]["error"] is None
    assert server.get("running", path=path).json == {"rows": []}
    row = by_name(rows_of(server, path))["busy"]
    assert (row["kind"], row["running"], row["metrics"]["metrics.json"]["loss"]) == ("experiment", False, 0.7)


def test_diff_compares_two_experiments_as_exp_diff_does(server: Server, project: Path) -> None:
    reply = server.get("diff", path=project.name, a="fast", b="slow")
    assert reply.status == 200, reply.body
    data = reply.json
    lr = {"old": 0.2, "new": 0.05, "diff": 0.05 - 0.2}
    assert data["diff"]["params"] == {"params.yaml": {"train.lr": lr}}
    assert data["diff"]["metrics"]["metrics.json"]["loss"] == {"old": 0.8, "new": 0.95, "diff": 0.95 - 0.8}
    metrics = data["tables"]["metrics"]
    assert metrics["header"] == ["Path", "Metric", "fast", "slow", "Change"]
    assert metrics["rows"] == [  # metrics rounded as exp diff prints them, params as written
        ["metrics.json", "acc", "0.2", "0.05", "-0.15"],
        ["metrics.json", "loss", "0.8", "0.95", "0.15"],
    ]
    assert data["tables"]["params"]["rows"] == [["params.yaml", "train.lr", "0.2", "0.05", repr(0.05 - 0.2)]]
    everything = server.get("diff", path=project.name, a="fast", b="slow", all="1").json
    assert ["params.yaml", "train.sleep", "0", "0", "0"] in everything["tables"]["params"]["rows"]
    missing = server.get("diff", path=project.name, a="fast")
    assert missing.status == 400 and "'a' and 'b'" in missing.json["error"]
    unknown = server.get("diff", path=project.name, a="fast", b="nope")
    assert unknown.status == 400 and "nope" in unknown.json["error"]


def test_sweep_starts_an_optuna_search_in_the_background(server: Server, project: Path) -> None:
    path = project.name
    bad = server.post("sweep", {"path": path, "params": ["train.lr=1"], "trials": 2, "objective": "loss"})
    assert bad.status == 400 and "needs a search space" in bad.json["error"]
    body = {"path": path, "params": ["train.lr=uniform(0.1,0.3)"], "trials": 3, "objective": "loss", "jobs": 2}
    reply = server.post("sweep", {**body, "study": "panel"})
    assert reply.status == 202 and reply.json["running"], reply.body
    assert server.post("run_all", {"path": path}).status == 409  # one background run of the queue at a time
    done = wait_for_queue(server, path, timeout=60)
    results = done["run"]["results"]
    assert done["run"]["error"] is None and [r["state"] for r in results] == ["complete"] * 3
    assert sum(r["best"] for r in results) == 1
    best = next(r for r in results if r["best"])
    assert best["value"] == min(r["value"] for r in results)  # minimize by default
    rows = by_name(rows_of(server, path))
    assert {f"panel-{n}" for n in range(3)} <= set(rows)
    assert rows[best["name"]]["metrics"]["metrics.json"]["loss"] == best["value"]


def test_plots_returns_one_page_with_the_chosen_revisions(server: Server, project: Path) -> None:
    reply = server.get("plots", path=project.name, revs="fast,slow")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/html")
    page = reply.text
    assert page.lstrip().lower().startswith("<!doctype html") and "history.json" in page
    assert "fast · step=1 · loss=0.8" in page and "slow · step=1 · loss=0.95" in page
    assert not (project / "dvc_plots").exists()  # rendered aside, not into the user's repository
    assert server.get("plots", path=project.name).status == 400


def test_requests_need_authentication_and_cookie_posts_need_the_xsrf_token(
    server: Server, project: Path
) -> None:
    assert server.call("GET", "experiments", query={"path": project.name}, token=False).status == 403
    body = {"path": project.name, "params": ["train.lr=0.3"], "queue": True}
    assert server.call("POST", "run", body, token=False).status == 403

    opener, jar = server.cookie_session()
    assert (
        server.call("GET", "experiments", query={"path": project.name}, token=False, opener=opener).status
        == 200
    )
    without = server.call("POST", "run", body, token=False, opener=opener)
    assert without.status == 403 and "'_xsrf' argument missing" in without.json["message"]
    xsrf = next(cookie.value for cookie in jar if cookie.name == "_xsrf")
    with_xsrf = server.call("POST", "run", body, token=False, opener=opener, headers={"X-XSRFToken": xsrf})
    assert with_xsrf.status == 200, with_xsrf.body
    assert len([r for r in Repo(project).experiments.show().rows if r.kind == "queued"]) == 1


def test_the_package_installs_both_extensions_enabled() -> None:
    """What ``pip install -e .`` after ``make labextension`` leaves: both listed as enabled (and OK)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_")}
    jupyter = Path(sys.executable).parent / "jupyter"
    lists = [
        subprocess.Popen(
            [jupyter, kind, *words, "list"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
        )
        for kind, *words in (("server", "extension"), ("labextension",))
    ]
    servers, labs = (_plain(proc.communicate(timeout=60)[0].decode()) for proc in lists)
    assert "jupyter_exp.server enabled" in servers and "jupyter_exp.server  OK" in servers
    assert "jupyter-exp v0.1.0 enabled OK" in labs, (
        f"the panel is not installed: run `make labextension` and `pip install -e .` (make test does both)\n{labs}"
    )


def _plain(text: str) -> str:
    """Without the terminal colours the jupyter commands print."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)
