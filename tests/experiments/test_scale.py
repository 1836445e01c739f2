"""``exp show`` over 1,000 experiments and ``remove`` of hundreds: right rows and refs at scale (the speed
is measured against DVC by ``benchmarks/exps_bench.py``, not here)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from jupyter_exp.experiments import Experiments
from jupyter_exp.experiments.refs import ExpRef
from jupyter_exp.pipeline import Pipeline
from jupyter_exp.scm.git import Git

from .conftest import fsck, git

N = 1000


def make_experiments(root: Path, count: int) -> str:
    """``count`` experiment commits on HEAD (params and metrics differ), refs written by ``git update-ref``."""
    g = Git(root)
    head = g.head()
    base = g.flatten(head)
    updates = []
    for i in range(count):
        files = dict(base)
        for path, text in (
            ("params.yaml", f"prepare:\n  size: 10\ntrain:\n  lr: {i / count}\n  epochs: 5\n"),
            ("metrics.json", json.dumps({"acc": i / count, "loss": {"train": 1 - i / count}})),
        ):
            files[path] = (0o100644, g.write_blob(text.encode()))
        sha = g.commit_tree(g.write_tree(files), [head], f"dvc: commit experiment {i}")
        updates.append(f"create {ExpRef(head, f'exp-{i:05x}')} {sha}\n")
    subprocess.run(["git", "update-ref", "--stdin"], cwd=root, input="".join(updates), text=True, check=True)
    return head


def test_show_scales_to_a_thousand_experiments(project: Path) -> None:
    make_experiments(project, N)
    exps = Experiments(Pipeline(project), Git(project))
    table = exps.show()
    assert len(table.rows) == N + 2
    assert table.rows[-1].glyph == "└── " and all(r.glyph == "├── " for r in table.rows[2:-1])
    by_name = {row.name: row for row in table.rows}
    assert by_name["exp-00007"].metrics["metrics.json"] == {"acc": 0.007, "loss.train": 0.993}

    fresh = Experiments(Pipeline(project), Git(project))  # a new process would start like this
    again = fresh.show()  # from the per-commit cache the first show wrote
    assert [(r.rev, r.metrics) for r in again.rows] == [(r.rev, r.metrics) for r in table.rows]
    assert "refs/exps" in git(project, "for-each-ref", "--count=1", "--format=%(refname)", "refs/exps")


def test_removing_hundreds_of_packed_and_loose_experiments_keeps_everything_else(project: Path) -> None:
    """``remove`` rewrites packed-refs once: packed and loose experiment refs go, other refs stay."""
    head = make_experiments(project, 300)
    git(project, "tag", "v1")
    git(project, "pack-refs", "--all")  # most refs packed, as git gc leaves them ...
    g = Git(project)
    base = g.flatten(head)
    loose = g.commit_tree(g.write_tree(base), [head], "dvc: commit experiment loose")
    g.set_ref(str(ExpRef(head, "loose-one")), loose)  # ... and one loose, as exp run writes them
    exps = Experiments(Pipeline(project), g)
    assert sorted(exps.remove(["exp-00007", "loose-one"])) == ["exp-00007", "loose-one"]
    names = git(project, "for-each-ref", "--format=%(refname:short)", "refs/exps").split()
    assert len(names) == 299 and not any(n.endswith(("exp-00007", "loose-one")) for n in names)
    assert len(exps.remove(all_commits=True)) == 299
    assert git(project, "for-each-ref", "refs/exps") == ""
    assert git(project, "rev-parse", "v1") == head and git(project, "rev-parse", "HEAD") == head
    fsck(project)
