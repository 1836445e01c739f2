"""Metrics that live inside a cached output directory (`outs: [eval]`, top-level `metrics:
[eval/metrics.json]`, as in example-get-started) read the same in `exp show`, `exp diff` and `metrics`
as in the real DVC 3: the one revision reader finds them through the revision's dvc.lock in the cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CliRunner, commit_files, ok, run_dvc

pytestmark = pytest.mark.dvc

FILES = {
    "params.yaml": "train:\n  lr: 0.1\n",
    "train.py": (
        "import json, os, yaml\n"
        "lr = yaml.safe_load(open('params.yaml'))['train']['lr']\n"
        "os.makedirs('eval', exist_ok=True)\n"
        "json.dump({'acc': round(lr * 2, 4), 'loss': {'train': round(1 - lr, 4)}}, open('eval/metrics.json', 'w'))\n"
    ),
    "dvc.yaml": (
        "stages:\n"
        "  train:\n"
        "    cmd: python train.py\n"
        "    deps: [train.py]\n"
        "    params: [train.lr]\n"
        "    outs: [eval]\n"
        "metrics:\n"
        "  - eval/metrics.json\n"
    ),
}


def _dvc_values(shown: list[dict]) -> dict[str, dict]:
    """{baseline or experiment name: eval/metrics.json values} from `dvc exp show --json`."""
    values = {}
    for baseline in shown[1:]:
        values[baseline["name"]] = baseline["data"]["metrics"]["eval/metrics.json"]["data"]
        for group in baseline.get("experiments") or []:
            rev = group["revs"][0]
            values[group["name"]] = rev["data"]["metrics"]["eval/metrics.json"]["data"]
    return values


def test_exp_show_and_diff_read_metrics_inside_a_cached_output_like_dvc(
    git_repo: Path, run_cli: CliRunner
) -> None:
    commit_files(git_repo, FILES, "pipeline")
    ok(run_cli("repro"))
    commit_files(
        git_repo, {"dvc.lock": (git_repo / "dvc.lock").read_text(), ".gitignore": "/eval\n"}, "baseline"
    )
    ok(run_cli("exp", "run", "-S", "train.lr=0.3", "-n", "ours"))
    run_dvc(git_repo, "exp", "run", "-S", "train.lr=0.4", "-n", "theirs")

    theirs = _dvc_values(json.loads(run_dvc(git_repo, "exp", "show", "--json")))
    assert theirs == {
        "master": {"acc": 0.2, "loss": {"train": 0.9}},
        "ours": {"acc": 0.6, "loss": {"train": 0.7}},
        "theirs": {"acc": 0.8, "loss": {"train": 0.6}},
    }
    rows = json.loads(ok(run_cli("exp", "show", "--json")))
    ours = {row["name"]: row["metrics"]["eval/metrics.json"] for row in rows if row["name"]}
    for name, values in theirs.items():
        assert ours[name] == {"acc": values["acc"], "loss.train": values["loss"]["train"]}, name

    table = ok(run_cli("exp", "show"))
    assert "0.6" in table.split("ours")[1].splitlines()[0]
    diff = ok(run_cli("exp", "diff", "master", "theirs"))
    assert "eval/metrics.json" in diff and "0.8" in diff
    for revs in (("master", "theirs"), ("theirs", "ours")):
        assert ok(run_cli("exp", "diff", *revs)).strip() == run_dvc(git_repo, "exp", "diff", *revs).strip()
    ours_diff = json.loads(ok(run_cli("metrics", "diff", "HEAD", "ours", "--json")))
    assert ours_diff == json.loads(run_dvc(git_repo, "metrics", "diff", "HEAD", "ours", "--json"))
    assert ours_diff["eval/metrics.json"]["acc"]["new"] == 0.6
