"""The experiment queue run through a real Dask cluster (2 worker processes) and a local data remote."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import distributed  # the dask extra, which `make test` installs
import pytest

from jupyter_exp.data.remote_config import add_remote
from jupyter_exp.experiments import Experiments
from jupyter_exp.experiments.dask_executor import (
    DaskExecutor,
    DaskExecutorError,
    Job,
    run_queued_entry,
)
from jupyter_exp.experiments.queue import run_all
from jupyter_exp.experiments.queued import QUEUE_NAMESPACE, entries

from .conftest import TRAIN, fsck, git, queue_refs


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
def remote(project: Path, tmp_path: Path) -> Path:
    storage = tmp_path / "storage"
    add_remote(project, "store", storage.as_uri(), default=True)
    git(project, "commit", "-q", "-am", "data remote")
    return storage


def run_on_dask(exps: Experiments, address: str, stop: threading.Event | None = None) -> list:
    return run_all(
        exps.pipeline, exps.git, log=exps.log, stop=stop, executor=DaskExecutor(address, connect_timeout=10)
    )


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
        assert git(project, "show", f"{result.rev}:params.yaml") == git(
            project, "show", f"{entry.rev}:params.yaml"
        )
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


def test_a_worker_that_cannot_see_the_shared_cache_says_to_add_a_remote(
    exps: Experiments, baseline: str
) -> None:
    entry = exps.run(["train.lr=0.4"], queue=True)
    objects = exps.git.export_objects([entry.rev])
    job = Job(entry.rev, baseline, None, (), False, objects, None, None, "/nonexistent/cache", "stop")
    outcome = run_queued_entry(job)
    assert "cannot see it" in outcome["error"] and "remote add -d" in outcome["error"]


def test_stop_ends_the_stages_on_the_workers_and_keeps_the_entries_queued(
    exps: Experiments, project: Path, remote: Path, baseline: str, scheduler: str, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    slow = f"import os, time\nopen({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n')\ntime.sleep(60)\n"
    (project / "train.py").write_text(slow + TRAIN)
    exps.run(["train.lr=0.2"], queue=True)
    exps.run(["train.lr=0.3"], queue=True)
    git(project, "checkout", "--", "train.py")
    stop = threading.Event()

    def stop_once_both_train() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (pids.exists() and len(pids.read_text().split()) == 2):
            time.sleep(0.05)
        stop.set()

    threading.Thread(target=stop_once_both_train, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        run_on_dask(exps, scheduler, stop)
    running = [int(pid) for pid in pids.read_text().split()]
    assert len(running) == 2
    for pid in running:  # the stages on the workers were ended, not left training
        assert _ended(pid), f"stage process {pid} still runs"
    assert [entry.failed for entry in entries(exps.git)] == [False, False]
    assert not exps.list()


def _ended(pid: int, within: float = 10.0) -> bool:
    """Whether process ``pid`` exits within ``within`` seconds (a zombie nobody reaped yet counts: a stage
    killed after its shell is reparented, and this machine's init may reap it late)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z":
                return True
        time.sleep(0.05)
    return False


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
    assert cli("run", "--dask", scheduler, "-S", "train.lr=0.3").returncode == 2


def test_an_unreachable_scheduler_is_named_and_the_queue_kept(exps: Experiments, baseline: str) -> None:
    exps.run(["train.lr=0.2"], queue=True)
    with pytest.raises(DaskExecutorError, match="cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"):
        run_all(
            exps.pipeline,
            exps.git,
            log=exps.log,
            executor=DaskExecutor("tcp://127.0.0.1:9", connect_timeout=1),
        )
    assert [entry.failed for entry in entries(exps.git)] == [False]
