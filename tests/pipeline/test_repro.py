"""``repro`` and ``status`` on a real pipeline: what runs, in which order, and why.

Every stage appends its name to ``runs.log`` (not tracked), so a test sees exactly which commands ran.
"""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent

import pytest
import yaml

from jupyter_exp.repo import Repo

PIPELINE = """\
# the seed's pipeline, cut down
stages:
  prep:
    cmd: mkdir -p out && cp data/users.csv out/users.csv && echo extra > out/extra.txt && echo prep >> runs.log
    deps: [data/users.csv]
    outs: [out]
  build:
    foreach: ${models}
    do:
      cmd: echo ${item.size} > model_${key}.txt && echo build@${key} >> runs.log
      deps: [out]
      outs: ["model_${key}.txt"]
  train:
    cmd: >-
      cat model_us.txt model_gb.txt > model.bin &&
      python -c "import json, yaml; print(json.dumps({'lr': yaml.safe_load(open('params.yaml'))['lr']}))"
      > metrics.json && echo train >> runs.log
    deps: [model_us.txt, model_gb.txt]
    params: [lr]
    outs: [model.bin]
    metrics:
      - metrics.json:
          cache: false
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def ran(root: Path) -> list[str]:
    """Stages that ran since the last call, in order."""
    log = root / "runs.log"
    names = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return names


def set_param(root: Path, key: str, value: object) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    params[key] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def lock(root: Path, name: str = "dvc.lock") -> dict:
    return yaml.safe_load((root / name).read_text())["stages"]


@pytest.fixture
def repo(git_repo: Path) -> Path:
    write(git_repo / "params.yaml", "lr: 0.1\nepochs: 2\nmodels:\n  us: {size: 2}\n  gb: {size: 3}\n")
    write(git_repo / "data" / "users.csv", "id,name\n1,ann\n")
    write(git_repo / "dvc.yaml", PIPELINE)
    return git_repo


@pytest.fixture
def built(repo: Path) -> Path:
    Repo(repo).pipeline.reproduce()
    ran(repo)
    return repo


ALL = ["prep", "build@us", "build@gb", "train"]


def test_first_repro_runs_everything_in_order_then_nothing(repo: Path, run_cli) -> None:
    assert Repo(repo).pipeline.reproduce() == ALL
    assert ran(repo) == ALL
    assert Repo(repo).pipeline.reproduce() == []
    assert ran(repo) == []
    result = run_cli("repro")
    assert result.code == 0
    assert "Stage 'build@gb' didn't change, skipping" in result.out
    assert result.out.rstrip().endswith("Data and pipelines are up to date.")
    assert run_cli("status").out.strip() == "Data and pipelines are up to date."
    assert Repo(repo).pipeline.status() == {}


def test_lock_records_cmd_deps_params_outs_as_dvc3(built: Path) -> None:
    stages = lock(built)
    assert list(stages) == ALL
    train = stages["train"]
    assert list(train) == ["cmd", "deps", "params", "outs"]
    assert train["params"] == {"params.yaml": {"lr": 0.1}}
    assert [d["path"] for d in train["deps"]] == ["model_gb.txt", "model_us.txt"]
    assert {o["path"] for o in train["outs"]} == {"model.bin", "metrics.json"}
    dep = train["deps"][0]
    assert list(dep) == ["path", "hash", "md5", "size"] and dep["hash"] == "md5" and dep["size"] == 2
    (out,) = stages["prep"]["outs"]
    assert out["md5"].endswith(".dir") and out["nfiles"] == 2 and out["size"] == 20


def test_param_change_reruns_only_stages_declaring_it(built: Path, run_cli) -> None:
    set_param(built, "epochs", 5)  # declared by no stage
    assert Repo(built).pipeline.status() == {}
    assert Repo(built).pipeline.reproduce() == []
    set_param(built, "lr", 0.2)
    assert Repo(built).pipeline.status() == {"train": [{"changed deps": {"params.yaml": {"lr": "modified"}}}]}
    assert "\t\tparams.yaml:\n\t\t\tmodified:           lr\n" in run_cli("status").out  # dvc status's layout
    assert Repo(built).pipeline.reproduce() == ["train"]
    assert ran(built) == ["train"]
    assert lock(built)["train"]["params"] == {"params.yaml": {"lr": 0.2}}
    assert json.loads((built / "metrics.json").read_text()) == {"lr": 0.2}


def test_dep_change_reruns_the_stage_and_what_depends_on_its_outputs(built: Path) -> None:
    (built / "data" / "users.csv").write_text("id,name\n1,ann\n2,bob\n")
    status = Repo(built).pipeline.status()
    assert status == {"prep": [{"changed deps": {"data/users.csv": "modified"}}]}
    # the foreach outputs do not change (they ignore `out`'s content), so train is not re-run
    assert Repo(built).pipeline.reproduce() == ["prep", "build@us", "build@gb"]
    assert ran(built) == ["prep", "build@us", "build@gb"]


def test_changed_command_reruns(built: Path, run_cli) -> None:
    text = (built / "dvc.yaml").read_text().replace("echo ${item.size} >", "echo size ${item.size} >")
    (built / "dvc.yaml").write_text(text)
    assert Repo(built).pipeline.status() == {"build@us": ["changed command"], "build@gb": ["changed command"]}
    assert run_cli("status").out.splitlines()[:2] == ["build@us:", "\tchanged command"]
    assert Repo(built).pipeline.reproduce() == ["build@us", "build@gb", "train"]
    assert ran(built) == ["build@us", "build@gb", "train"]


def test_missing_or_modified_outputs_are_restored_from_the_run_cache(built: Path, run_cli) -> None:
    (built / "model_gb.txt").unlink()
    (built / "model.bin").write_text("tampered")
    assert Repo(built).pipeline.status() == {
        "build@gb": [{"changed outs": {"model_gb.txt": "deleted"}}],
        "train": [{"changed deps": {"model_gb.txt": "deleted"}}, {"changed outs": {"model.bin": "modified"}}],
    }
    result = run_cli("repro")
    assert result.code == 0, result.err
    assert "Stage 'build@gb' is cached - skipping run, checking out outputs" in result.out
    assert "Stage 'train' is cached - skipping run, checking out outputs" in result.out
    assert ran(built) == []
    assert (built / "model_gb.txt").read_text() == "3\n"
    assert (built / "model.bin").read_text() == "2\n3\n"
    assert Repo(built).pipeline.status() == {}


def test_no_run_cache_runs_the_commands(built: Path, run_cli) -> None:
    (built / "model_gb.txt").unlink()
    result = run_cli("repro", "--no-run-cache")
    assert "Running stage 'build@gb':" in result.out and "is cached" not in result.out
    assert ran(built) == ["build@gb"]  # train's deps are the same again: not re-run


def test_run_cache_restores_an_earlier_params_run_including_cache_false_metrics(built: Path) -> None:
    set_param(built, "lr", 0.5)
    assert Repo(built).pipeline.reproduce() == ["train"] and ran(built) == ["train"]
    set_param(built, "lr", 0.1)
    messages: list[str] = []
    assert Repo(built, log=messages.append).pipeline.reproduce() == ["train"]
    assert ran(built) == []
    assert "Stage 'train' is cached - skipping run, checking out outputs" in messages
    assert json.loads((built / "metrics.json").read_text()) == {"lr": 0.1}
    assert lock(built)["train"]["params"] == {"params.yaml": {"lr": 0.1}}
    assert Repo(built).pipeline.status() == {}


def test_force_runs_the_whole_plan_and_single_item_only_the_target(built: Path, run_cli) -> None:
    assert run_cli("repro", "-f", "train").code == 0
    assert ran(built) == ALL  # as DVC 3: -f applies to every stage the target needs
    assert run_cli("repro", "-f", "-s", "train").code == 0
    assert ran(built) == ["train"]
    assert run_cli("repro", "--force", "--single-item", "build").code == 0
    assert ran(built) == ["build@us", "build@gb"]


def test_single_item_does_not_run_changed_upstream(built: Path) -> None:
    (built / "data" / "users.csv").write_text("changed\n")
    set_param(built, "lr", 0.3)
    assert Repo(built).pipeline.reproduce(["train"], single_item=True) == ["train"]
    assert ran(built) == ["train"]
    assert list(Repo(built).pipeline.status()) == ["prep"]


def test_dry_prints_commands_and_changes_nothing(built: Path, run_cli) -> None:
    set_param(built, "lr", 0.7)
    before = (built / "dvc.lock").read_text()
    result = run_cli("repro", "--dry")
    assert result.code == 0
    assert "Running stage 'train':" in result.out
    assert "> cat model_us.txt model_gb.txt > model.bin && python -c" in result.out
    assert ran(built) == []
    assert (built / "dvc.lock").read_text() == before
    assert json.loads((built / "metrics.json").read_text()) == {"lr": 0.1}


def test_downstream_runs_the_target_and_what_follows(built: Path, run_cli) -> None:
    assert run_cli("repro", "-f", "--downstream", "build@gb").code == 0
    assert ran(built) == ["build@gb", "train"]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("build@us", ["build@us"]),
        ("build", ["build@us", "build@gb"]),
        ("dvc.yaml:build@gb", ["build@gb"]),
        ("dvc.yaml:train", ["build@us", "build@gb", "train"]),
        ("dvc.yaml", ["build@us", "build@gb", "train"]),
    ],
)
def test_targets(built: Path, target: str, expected: list[str]) -> None:
    for name in ("model_us.txt", "model_gb.txt", "model.bin"):
        (built / name).unlink()
    assert Repo(built).pipeline.reproduce([target], run_cache=False) == expected
    assert ran(built) == expected


def test_unknown_target_is_an_error_naming_it(built: Path, run_cli) -> None:
    result = run_cli("repro", "nosuch")
    assert result.code == 1
    assert "'nosuch' does not name a stage in 'dvc.yaml'" in result.err
    assert "Traceback" not in result.err


def test_stages_in_a_subfolder_use_their_lock_wdir_and_addressing(built: Path, run_cli) -> None:
    write(
        built / "sub" / "dvc.yaml",
        dedent(
            """\
            stages:
              report:
                wdir: work
                cmd: cat ../../model.bin > report.txt && pwd > where.txt && echo report >> ../../runs.log
                deps: [../../model.bin]
                outs: [report.txt]
            """
        ),
    )
    (built / "sub" / "work").mkdir()
    assert "sub/dvc.yaml:report" in Repo(built).pipeline.stages()
    assert run_cli("repro", "sub/dvc.yaml:report").code == 0
    assert ran(built) == ["report"]
    assert (built / "sub" / "work" / "where.txt").read_text().strip() == str(built / "sub" / "work")
    sub_lock = lock(built, "sub/dvc.lock")
    assert list(sub_lock) == ["report"]
    assert sub_lock["report"]["deps"][0]["path"] == "../../model.bin"
    assert sub_lock["report"]["outs"][0]["path"] == "report.txt"
    assert "report" not in lock(built)
    assert (built / "sub" / "work" / ".gitignore").read_text() == "/report.txt\n"
    # an upstream change reaches the stage in the other file
    set_param(built, "models", {"us": {"size": 9}, "gb": {"size": 3}})
    assert Repo(built).pipeline.reproduce(run_cache=False) == ["build@us", "train", "sub/dvc.yaml:report"]
    assert ran(built) == ["build@us", "train", "report"]
    (built / "sub" / "work" / "report.txt").unlink()
    # status names paths from the repository root, as `dvc status` does
    assert Repo(built).pipeline.status() == {
        "sub/dvc.yaml:report": [{"changed outs": {"sub/work/report.txt": "deleted"}}]
    }
    assert Repo(built).pipeline.reproduce(["sub"], recursive=True, run_cache=False) == ["sub/dvc.yaml:report"]
    assert run_cli("status", "sub/dvc.yaml:report").out.strip() == "Data and pipelines are up to date."


def test_failing_command_reports_status_keeps_earlier_stages_and_writes_no_entry(repo: Path, run_cli) -> None:
    text = (repo / "dvc.yaml").read_text().replace("echo train >> runs.log", "echo train >> runs.log && exit 3")
    (repo / "dvc.yaml").write_text(text)
    result = run_cli("repro")
    assert result.code == 1
    assert "failed to reproduce 'train'" in result.err and "exited with status 3" in result.err
    assert "Traceback" not in result.err
    assert list(lock(repo)) == ["prep", "build@us", "build@gb"]
    assert "/model.bin" not in (repo / ".gitignore").read_text()
    assert ran(repo) == ["prep", "build@us", "build@gb", "train"]
    (repo / "dvc.yaml").write_text(PIPELINE)
    assert Repo(repo).pipeline.reproduce() == ["train"]
    assert ran(repo) == ["train"]


def test_failing_first_command_of_a_list_stops_the_stage(git_repo: Path) -> None:
    write(
        git_repo / "dvc.yaml",
        "stages:\n  s:\n    cmd:\n      - echo one >> runs.log && false\n      - echo two >> runs.log\n"
        "    outs: [x]\n",
    )
    with pytest.raises(Exception, match="command 'echo one >> runs.log && false' exited with status 1"):
        Repo(git_repo).pipeline.reproduce()
    assert ran(git_repo) == ["one"]
    assert not (git_repo / "dvc.lock").exists()


def test_dep_hashes_are_taken_before_the_command_runs(git_repo: Path, run_cli) -> None:
    """A command editing its own script: the lock must not claim the edited script produced the output."""
    write(
        git_repo / "train.py",
        "import pathlib\np = pathlib.Path('train.py')\np.write_text(p.read_text() + '# edited\\n')\n"
        "pathlib.Path('model.txt').write_text('m')\n",
    )
    write(git_repo / "dvc.yaml", "stages:\n  train:\n    cmd: python train.py\n    deps: [train.py]\n    outs: [model.txt]\n")
    assert run_cli("repro").code == 0
    assert Repo(git_repo).pipeline.status() == {"train": [{"changed deps": {"train.py": "modified"}}]}


def test_status_wording_for_never_run_always_changed_frozen_and_callback_stages(git_repo: Path, run_cli) -> None:
    write(git_repo / "params.yaml", "lr: 1\n")
    write(
        git_repo / "dvc.yaml",
        dedent(
            """\
            stages:
              a:
                cmd: echo a > a.txt
                params: [lr]
                outs: [a.txt]
              b:
                cmd: cp a.txt b.txt
                deps: [a.txt]
                outs: [b.txt]
              stamp:
                cmd: date > stamp.txt
                outs: [stamp.txt]
                always_changed: true
              notify:
                cmd: echo done
              pinned:
                cmd: cp a.txt pinned.txt
                deps: [a.txt]
                outs: [pinned.txt]
                frozen: true
            """
        ),
    )
    # the same words and structure as `dvc status --json` (checked against DVC 3.67.1)
    assert Repo(git_repo).pipeline.status() == {
        "a": [{"changed deps": {"params.yaml": "new"}}, {"changed outs": {"a.txt": "deleted"}}],
        "b": [{"changed deps": {"a.txt": "deleted"}}, {"changed outs": {"b.txt": "deleted"}}],
        "stamp": [{"changed outs": {"stamp.txt": "deleted"}}, "always changed"],
        "notify": ["always changed"],
        "pinned": [{"changed outs": {"pinned.txt": "deleted"}}],
    }
    (git_repo / "pinned.txt").write_text("by hand\n")
    assert Repo(git_repo).pipeline.reproduce() == ["a", "b", "stamp", "notify"]
    assert run_cli("status", "--json").out.strip() == json.dumps(
        {"stamp": ["always changed"], "notify": ["always changed"]}, indent=2
    )
    text = run_cli("status").out
    assert text == "stamp:\n\talways changed\nnotify:\n\talways changed\n"
    assert Repo(git_repo).pipeline.reproduce() == ["stamp", "notify"]
    # a frozen stage is never run: its changed deps are not even reported
    (git_repo / "a.txt").write_text("new a\n")
    status = Repo(git_repo).pipeline.status()
    assert "pinned" not in status and status["b"] == [{"changed deps": {"a.txt": "modified"}}]


def test_frozen_stage_with_a_missing_output_is_an_error_naming_it(git_repo: Path, run_cli) -> None:
    write(git_repo / "dvc.yaml", "stages:\n  p:\n    cmd: echo p > p.txt\n    outs: [p.txt]\n    frozen: true\n")
    result = run_cli("repro")
    assert result.code == 1
    assert "frozen stage 'p': missing output 'p.txt'" in result.err
    assert not (git_repo / "p.txt").exists()
