"""The real DVC 3 accepts what ``jupyter-exp repro`` writes, and the reverse.

One pipeline exercises the formats: ``foreach`` over params, declared params, a list ``cmd``, a
directory output, a metrics file with ``cache: false`` and a data file tracked with ``add``. (Commands
are kept under 80 columns: DVC's YAML writer folds longer strings at other places than PyYAML.) Runs only where the reference DVC
is installed (see tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DVC

pytestmark = pytest.mark.dvc

JUPYTER_EXP = str(Path(sys.executable).parent / "jupyter-exp")

PIPELINE = """\
stages:
  prep:
    cmd:
      - mkdir -p features/by_id && cp data/users.csv features/all.csv
      - cut -d, -f1 data/users.csv > features/by_id/ids.txt
    deps: [data/users.csv]
    outs: [features]
  build:
    foreach: ${models}
    do:
      cmd: cat features/all.csv > model_${key}.txt && echo ${item.size} >> model_${key}.txt
      deps: [features]
      params: ["models.${key}.size"]
      outs: ["model_${key}.txt"]
  evaluate:
    cmd: "sh evaluate.sh > scores.json && echo 'evaluated: ok'"
    deps: [evaluate.sh, model_us.txt, model_gb.txt]
    params: [lr]
    metrics:
      - scores.json:
          cache: false
"""


def run(cwd: Path, *words: str) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    done = subprocess.run(list(words), cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(words)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def dvc(cwd: Path, *words: str) -> str:
    assert DVC is not None
    return run(cwd, str(DVC), *words)


def jx(cwd: Path, *words: str) -> str:
    return run(cwd, JUPYTER_EXP, *words)


def make_project(root: Path) -> None:
    (root / "data").mkdir()
    (root / "data" / "users.csv").write_text("1,ann\n2,bob\n3,cid\n")
    (root / "params.yaml").write_text("lr: 0.01\nmodels:\n  us:\n    size: 2\n  gb:\n    size: 3\n")
    (root / "dvc.yaml").write_text(PIPELINE)
    (root / "evaluate.sh").write_text(
        "lr=$(grep '^lr:' params.yaml | cut -d' ' -f2)\n"
        "lines=$(cat model_us.txt model_gb.txt | wc -l)\n"
        'printf \'{"lr": %s, "lines": %s}\\n\' "$lr" "$lines"\n'
    )


def cache_files(root: Path) -> dict[str, bytes]:
    objects = root / ".dvc" / "cache" / "files" / "md5"
    return {p.relative_to(objects).as_posix(): p.read_bytes() for p in objects.rglob("*") if p.is_file()}


@pytest.fixture
def project(git_repo: Path) -> Path:
    make_project(git_repo)
    return git_repo


def test_dvc_finds_nothing_to_do_after_our_repro(project: Path) -> None:
    jx(project, "add", "data/users.csv")
    jx(project, "repro")
    lock_text = (project / "dvc.lock").read_text()
    assert dvc(project, "status").strip() == "Data and pipelines are up to date."
    assert json.loads(dvc(project, "status", "--json")) == {}
    out = dvc(project, "repro")
    assert "Running stage" not in out
    assert "'data/users.csv.dvc' didn't change, skipping" in out
    for name in ("prep", "build@us", "build@gb", "evaluate"):
        assert f"Stage '{name}' didn't change, skipping" in out
    assert (project / "dvc.lock").read_text() == lock_text
    # DVC checks out our cache: delete the outputs and let it restore them
    shutil.rmtree(project / "features")
    (project / "model_gb.txt").unlink()
    dvc(project, "checkout")
    assert json.loads(jx(project, "status", "--json")) == {}


def test_we_find_nothing_to_do_after_dvc_repro(project: Path) -> None:
    dvc(project, "add", "data/users.csv")
    dvc(project, "repro")
    assert jx(project, "status").strip() == "Data and pipelines are up to date."
    assert json.loads(jx(project, "status", "--json")) == {}
    out = jx(project, "repro")
    assert "Running stage" not in out and "is cached" not in out
    assert "'data/users.csv.dvc' didn't change, skipping" in out
    shutil.rmtree(project / "features")
    jx(project, "checkout")
    assert json.loads(dvc(project, "status", "--json")) == {}


def test_same_lock_dvc_file_and_cache_objects_as_dvc(git_repo: Path, tmp_path: Path) -> None:
    ours = git_repo
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    run(theirs, "git", "init", "-q")
    dvc(theirs, "init", "-q")
    for root in (ours, theirs):
        make_project(root)
    jx(ours, "add", "data/users.csv")
    jx(ours, "repro")
    dvc(theirs, "add", "data/users.csv")
    dvc(theirs, "repro")
    assert cache_files(ours) == cache_files(theirs)
    assert (ours / "dvc.lock").read_text() == (theirs / "dvc.lock").read_text()  # byte for byte, quoting too
    assert (ours / "data" / "users.csv.dvc").read_text() == (theirs / "data" / "users.csv.dvc").read_text()
    for gitignore in (".gitignore", "data/.gitignore"):
        assert sorted((ours / gitignore).read_text().splitlines()) == sorted(
            (theirs / gitignore).read_text().splitlines()
        )
    assert (ours / "scores.json").read_text() == (theirs / "scores.json").read_text()


def test_status_json_matches_dvc_after_changes(project: Path) -> None:
    jx(project, "add", "data/users.csv")
    jx(project, "repro")
    text = (project / "params.yaml").read_text().replace("size: 3", "size: 4").replace("lr: 0.01", "lr: 0.02")
    (project / "params.yaml").write_text(text)
    (project / "features" / "by_id" / "ids.txt").write_text("edited\n")
    (project / "model_us.txt").unlink()
    (project / "data" / "users.csv").write_text("1,ann\n")
    theirs = json.loads(dvc(project, "status", "--json"))
    assert theirs  # the changes are visible to DVC
    assert json.loads(jx(project, "status", "--json")) == theirs
    # and after our repro DVC agrees again
    jx(project, "repro")
    assert json.loads(dvc(project, "status", "--json")) == {}


def test_status_says_not_in_cache_like_dvc(project: Path) -> None:
    """Outputs whose objects left the cache (a fresh clone, a cleared cache): DVC's `not in cache`, ahead of
    `deleted`/`modified`, for stage outputs (files and directories) and `.dvc` data alike."""
    jx(project, "add", "data/users.csv")
    jx(project, "repro")
    shutil.rmtree(project / ".dvc" / "cache")
    (project / "model_us.txt").unlink()
    theirs = json.loads(dvc(project, "status", "--json"))
    assert "not in cache" in json.dumps(theirs)
    assert json.loads(jx(project, "status", "--json")) == theirs
    assert dvc(project, "status") == jx(project, "status")


def test_status_text_is_dvcs_for_params_and_commands(project: Path) -> None:
    jx(project, "add", "data/users.csv")
    jx(project, "repro")
    text = (project / "params.yaml").read_text().replace("size: 3", "size: 4").replace("lr: 0.01", "lr: 0.02")
    (project / "params.yaml").write_text(text)
    (project / "data" / "users.csv").write_text("1,ann\n")
    assert "\t\tparams.yaml:\n\t\t\tmodified:" in jx(project, "status")
    assert jx(project, "status") == dvc(project, "status")
