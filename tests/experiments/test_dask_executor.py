"""The experiment queue run through a real Dask cluster (2 worker processes) and a local data remote."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import distributed  # the dask extra, which `make test` installs
import pytest

from jupyter_exp.data.remote import add_remote
from jupyter_exp.experiments import Experiments
from jupyter_exp.experiments.dask_executor import (
    DaskExecutor,
    Job,
    commit_closure,
    pack_objects,
    run_queued_entry,
)
from jupyter_exp.experiments.queue import QUEUE_NAMESPACE, entries, run_all

from .conftest import TRAIN, fsck, git


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close(timeout=20)


@pytest.fixture
def baseline(exps: Experiments, project: Path) -> str:
    """The pipeline reproduced and committed: the queued runs start from its cached outputs."""
    exps.pipeline.reproduce()
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "baseline results")
    return git(project, "rev-parse", "HEAD")


@pytest.fixture
def remote(project: Path, tmp_path: Path) -> Path:
    storage = tmp_path / "storage"
    add_remote(project, "store", storage.as_uri(), default=True)
    git(project, "commit", "-q", "-am", "data remote")
    return storage


def run_on_dask(exps: Experiments, address: str, stop: threading.Event | None = None) -> list:
    return run_all(
        exps.pipeline, exps.git, log=exps.log, stop=stop, executor=DaskExecutor(address, connect_timeout=10)
    )


def queue_refs(project: Path) -> list[str]:
    return git(project, "for-each-ref", "--format=%(refname)", QUEUE_NAMESPACE).splitlines()


def cache_object(project: Path, md5: str) -> Path:
    return project / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def lock_md5(project: Path, rev: str, path: str) -> str:
    lock = git(project, "show", f"{rev}:dvc.lock")
    after = lock[lock.index(f"path: {path}") :]
    return after[after.index("md5: ") + 5 :].split()[0]


def test_three_experiments_run_on_dask_through_the_data_remote(
    exps: Experiments, project: Path, remote: Path, baseline: str, scheduler: str, logs: list[str]
) -> None:
    baseline = git(project, "rev-parse", "HEAD")
    queued = [
        exps.run(["train.lr=0.2"], queue=True),
        exps.run(["train.lr=0.3"], name="named", queue=True),
        exps.run(["prepare.size=20", "train.epochs=2"], queue=True),
    ]
    results = run_on_dask(exps, scheduler)

    assert [r.error for r in results] == [None, None, None]
    assert results[1].name == "named"
    assert results[0].stages == ["train"]  # prepare's output came from the remote: unchanged stage skipped
    assert results[2].stages == ["prepare", "train"]
    assert queue_refs(project) == [] and git(project, "status", "--porcelain") == ""
    assert sum(line.startswith("Running queued experiment") for line in logs) == 3
    for result, entry in zip(results, queued, strict=True):
        assert result.ref == f"refs/exps/{baseline[:2]}/{baseline[2:]}/{result.name}"
        assert git(project, "rev-parse", result.ref) == result.rev
        assert git(project, "rev-parse", f"{result.rev}^") == baseline
        assert git(project, "show", f"{result.rev}:params.yaml") == git(project, "show", f"{entry.rev}:params.yaml")
        model = lock_md5(project, result.rev, "model.txt")
        assert cache_object(project, model).is_file()  # pulled back into the local cache
        assert (remote / "files" / "md5" / model[:2] / model[2:]).is_file()

    rows = {row.name: row for row in exps.show().rows if row.kind == "experiment"}
    expected = {results[0].name: (0.2, 5, 1.0), "named": (0.3, 5, 1.5), results[2].name: (0.1, 2, 0.2)}
    for name, (lr, epochs, acc) in expected.items():
        assert rows[name].params["params.yaml"]["train.lr"] == lr
        assert rows[name].params["params.yaml"]["train.epochs"] == epochs
        assert rows[name].metrics["metrics.json"]["acc"] == acc
    exps.apply(results[2].name)  # its outputs are in the local cache now
    assert (project / "model.txt").read_text() == "model lr=0.1 epochs=2 n=20"
    assert (project / "data.txt").read_text() == "x" * 20
    fsck(project)


def test_a_failing_entry_stays_queued_marked_failed(
    exps: Experiments, project: Path, remote: Path, baseline: str, scheduler: str, logs: list[str]
) -> None:
    bad = exps.run(["train.epochs=oops"], name="bad", queue=True)
    exps.run(["train.lr=0.2"], queue=True)
    results = run_on_dask(exps, scheduler)

    assert results[0].error and "exited with status 1" in results[0].error
    assert results[1].error is None and git(project, "rev-parse", f"{results[1].rev}^") == git(
        project, "rev-parse", "HEAD"
    )
    assert queue_refs(project) == [f"{QUEUE_NAMESPACE}/failed/{bad.rev}"]
    log_file = project / ".dvc" / "tmp" / "jupyter-exp" / "queue" / f"{bad.rev}.log"
    assert "TypeError" in log_file.read_text()  # the stage's output, brought back from the worker
    assert any(line.startswith("Failed to reproduce experiment 'bad'") for line in logs)
    failed = next(row for row in exps.show().rows if row.kind == "queued")
    assert failed.label == "*bad (failed)"
    assert run_on_dask(exps, scheduler) == []  # failed entries are not retried
    fsck(project)


def test_without_a_data_remote_the_workers_share_the_cache(
    exps: Experiments, project: Path, baseline: str, scheduler: str, logs: list[str]
) -> None:
    exps.run(["train.lr=0.4"], name="shared", queue=True)
    [result] = run_on_dask(exps, scheduler)
    assert result.error is None and result.stages == ["train"]
    assert any("No default data remote" in line and "remote add -d" in line for line in logs)
    assert cache_object(project, lock_md5(project, result.rev, "model.txt")).is_file()
    fsck(project)


def test_a_worker_that_cannot_see_the_shared_cache_says_to_add_a_remote(exps: Experiments, baseline: str) -> None:
    entry = exps.run(["train.lr=0.4"], queue=True)
    objects = pack_objects(exps.git, commit_closure(exps.git, entry.rev))
    job = Job(entry.rev, baseline, None, (), False, objects, None, None, "/nonexistent/cache", "stop")
    outcome = run_queued_entry(job)
    assert "cannot see it" in outcome["error"] and "remote add -d" in outcome["error"]


def test_stop_ends_the_tasks_and_keeps_their_entries_queued(
    exps: Experiments, project: Path, remote: Path, baseline: str, scheduler: str
) -> None:
    (project / "train.py").write_text("import time\ntime.sleep(60)\n" + TRAIN)
    exps.run(["train.lr=0.2"], queue=True)
    exps.run(["train.lr=0.3"], queue=True)
    git(project, "checkout", "--", "train.py")
    stop = threading.Event()
    threading.Timer(2.0, stop.set).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_on_dask(exps, scheduler, stop)
    assert time.monotonic() - started < 20
    assert [entry.failed for entry in entries(exps.git)] == [False, False]
    assert not exps.list()


def test_cli_run_all_on_dask(project: Path, remote: Path, baseline: str, scheduler: str) -> None:
    def cli(*words: str) -> subprocess.CompletedProcess[str]:
        code = "import sys; from jupyter_exp.cli import main; sys.exit(main(sys.argv[1:]))"
        return subprocess.run(
            [sys.executable, "-c", code, *words], cwd=project, capture_output=True, text=True, timeout=60
        )

    assert cli("run", "--queue", "-S", "train.lr=0.2", "-n", "via-cli").returncode == 0
    ran = cli("run", "--run-all", "--dask", scheduler)
    assert ran.returncode == 0, ran.stderr
    assert "Reproduced experiment(s): via-cli" in ran.stdout
    assert cli("run", "--run-all", "--executor", "local", "--dask", scheduler).returncode == 2
    unreachable = cli("run", "--queue", "-n", "x"), cli("run", "--run-all", "--dask", "tcp://127.0.0.1:9")
    assert unreachable[1].returncode == 1 and "cannot reach the Dask scheduler" in unreachable[1].stderr
    assert queue_refs(project) == [f"{QUEUE_NAMESPACE}/queued/{entries_of(project)[0]}"]


def entries_of(project: Path) -> list[str]:
    return [ref.rsplit("/", 1)[1] for ref in queue_refs(project)]
