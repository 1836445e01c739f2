"""Data remotes on S3: moto's real S3 API on 127.0.0.1, reached through s3fs as a user's remote is
(``remote add`` an ``s3://`` URL, ``remote modify ... endpointurl``, credentials in the environment).

The server records every request, so these tests count what a transfer asked of it: listings instead of one
HEAD per object, one PUT per missing object, one GET per fetched one, several in flight with ``-j``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import CliRunner, files_under, git, md5, ok, write_bytes
from moto_s3 import MotoS3, object_keys

from jupyter_exp.config import write_config
from jupyter_exp.data.remote import RemoteError
from jupyter_exp.data.remote_config import get_remote
from jupyter_exp.repo import Repo

PREFIX = "dvcstore"
WAIT_LIMIT_S = 60.0  # how long a test waits for the server to see something before it fails


def make_data(root: Path, count: int) -> None:
    for i in range(count):
        write_bytes(root / "data" / f"part{i:04d}.txt", f"row {i}\n".encode())
    write_bytes(root / "model.bin", os.urandom(3000))


def s3_remote(run_cli: CliRunner, server: MotoS3, bucket: str, name: str = "s3") -> None:
    ok(run_cli("remote", "add", "-d", name, f"s3://{bucket}/{PREFIX}"))
    ok(run_cli("remote", "modify", name, "endpointurl", server.endpoint))


def stored_objects(server: MotoS3, bucket: str) -> dict[str, bytes]:
    """md5 -> content of every object under the remote's ``files/md5/`` (the key's two parts joined)."""
    found = server.keys(bucket)
    return {
        key.split("/files/md5/", 1)[1].replace("/", ""): data for key, data in found.items() if "/files/md5/" in key
    }


def cache_objects(root: Path) -> dict[str, bytes]:
    return {rel.replace("/", ""): data for rel, data in files_under(root / ".dvc" / "cache" / "files" / "md5").items()}


def commit_and_clone(repo: Path, tmp_path: Path) -> Path:
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "data")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    return clone


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_LIMIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def assert_whole(objects: dict[str, bytes]) -> None:
    """Every object's content hashes to its name (a ``.dir`` manifest too): nothing partial is stored."""
    for name, data in objects.items():
        assert md5(data) == name.removesuffix(".dir"), f"object {name} is not whole"


def test_push_fetch_pull_roundtrip(
    git_repo: Path, tmp_path: Path, run_cli: CliRunner, moto_s3: MotoS3
) -> None:
    make_data(git_repo, 20)
    ok(run_cli("add", "data", "model.bin"))
    bucket = moto_s3.new_bucket()
    s3_remote(run_cli, moto_s3, bucket)
    assert "endpointurl = http://127.0.0.1:" in (git_repo / ".dvc" / "config").read_text()
    assert ok(run_cli("data", "push")).strip() == "22 files pushed"  # 20 files, their .dir, the model
    assert stored_objects(moto_s3, bucket) == cache_objects(git_repo)  # DVC 3's layout under the prefix
    assert ok(run_cli("data", "push")).strip() == "Everything is up to date."

    clone = commit_and_clone(git_repo, tmp_path)
    assert ok(run_cli("data", "fetch", "data.dvc", cwd=clone)).strip() == "21 files fetched"
    assert not (clone / "data").exists()  # fetch fills the cache only
    assert "1 file fetched, 2 files checked out" in ok(run_cli("data", "pull", cwd=clone))
    assert files_under(clone / "data") == files_under(git_repo / "data")
    assert (clone / "model.bin").read_bytes() == (git_repo / "model.bin").read_bytes()
    assert cache_objects(clone) == cache_objects(git_repo)


def test_what_is_missing_comes_from_listings_not_one_head_per_object(
    git_repo: Path, tmp_path: Path, run_cli: CliRunner, moto_s3: MotoS3
) -> None:
    make_data(git_repo, 300)
    ok(run_cli("add", "data"))
    bucket = moto_s3.new_bucket()
    s3_remote(run_cli, moto_s3, bucket)

    mark = moto_s3.mark()
    ok(run_cli("data", "push"))
    asked = moto_s3.since(mark, bucket)
    assert object_keys(asked, "HEAD") == []
    assert len(object_keys(asked, "PUT")) == 301  # each object once, the .dir included
    listings = [r for r in asked if r.is_listing]
    # The manifest's folder, one folder's (to estimate the remote's size: empty), then all of it at once; s3fs
    # looks again at what it finds empty (the parent of a folder, whether a path is a folder): 6, not 256.
    assert 0 < len(listings) <= 6

    for i in range(300, 305):  # five new files: the push sends those and the new manifest, nothing else
        write_bytes(git_repo / "data" / f"part{i:04d}.txt", f"row {i}\n".encode())
    ok(run_cli("add", "data"))
    mark = moto_s3.mark()
    assert ok(run_cli("data", "push")).strip() == "6 files pushed"
    asked = moto_s3.since(mark, bucket)
    assert object_keys(asked, "HEAD") == [] and len(object_keys(asked, "PUT")) == 6
    assert len([r for r in asked if r.is_listing]) <= 4  # a small remote: one page of all its names

    mark = moto_s3.mark()
    assert ok(run_cli("data", "push")).strip() == "Everything is up to date."
    asked = moto_s3.since(mark, bucket)  # the manifest is there: it vouches for its files, nothing else is asked
    assert len(asked) == 1 and asked[0].is_listing

    clone = commit_and_clone(git_repo, tmp_path)
    mark = moto_s3.mark()
    ok(run_cli("data", "pull", cwd=clone))
    asked = moto_s3.since(mark, bucket)
    assert object_keys(asked, "HEAD") == []
    assert len(object_keys(asked, "GET")) == 306  # one GET per object, no listing needed to fetch
    assert files_under(clone / "data") == files_under(git_repo / "data")


def test_jobs_transfers_run_in_parallel_with_progress(
    git_repo: Path, tmp_path: Path, run_cli: CliRunner, moto_s3: MotoS3
) -> None:
    make_data(git_repo, 40)
    ok(run_cli("add", "data"))
    bucket = moto_s3.new_bucket()
    s3_remote(run_cli, moto_s3, bucket)
    repo = Repo(git_repo)
    seen: list[tuple[int, int]] = []
    moto_s3.hold_uploads_after(0, bucket)
    pushing = threading.Thread(
        target=lambda: repo.push(jobs=4, progress=lambda done, total: seen.append((done, total)))
    )
    pushing.start()
    try:
        wait_for(lambda: moto_s3.held >= 4, "4 uploads in flight at once")  # -j 4: four PUTs wait together
    finally:
        moto_s3.release()
        pushing.join()
    assert moto_s3.held == 4  # and never a fifth while they waited
    assert seen[-1] == (41, 41) and [d for d, _ in seen] == list(range(1, 42))
    assert stored_objects(moto_s3, bucket) == cache_objects(git_repo)

    clone = commit_and_clone(git_repo, tmp_path)
    fetched: list[tuple[int, int]] = []
    Repo(clone).fetch(jobs=8, progress=lambda done, total: fetched.append((done, total)))
    assert fetched[-1] == (40, 40)  # the files, after their manifest
    assert cache_objects(clone) == cache_objects(git_repo)


def test_a_killed_push_leaves_only_whole_objects_and_a_rerun_finishes_it(
    git_repo: Path, tmp_path: Path, run_cli: CliRunner, moto_s3: MotoS3
) -> None:
    make_data(git_repo, 120)
    ok(run_cli("add", "data", "model.bin"))
    bucket = moto_s3.new_bucket()
    s3_remote(run_cli, moto_s3, bucket)
    moto_s3.hold_uploads_after(30, bucket)
    pushing = subprocess.Popen(
        [sys.executable, "-m", "jupyter_exp.cli", "data", "push", "-j", "4"],
        cwd=git_repo,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: moto_s3.held >= 1, "the push to reach the held uploads")
        pushing.send_signal(signal.SIGKILL)
        pushing.wait()
    finally:
        moto_s3.release()
    partial = stored_objects(moto_s3, bucket)
    assert 0 < len(partial) < 122
    assert_whole(partial)
    assert not any(name.endswith(".dir") for name in partial)  # the manifest goes last, after its files

    result = Repo(git_repo).push()
    assert (result.transferred, result.present) == (122 - len(partial), len(partial))
    assert stored_objects(moto_s3, bucket) == cache_objects(git_repo)

    clone = commit_and_clone(git_repo, tmp_path)
    ok(run_cli("data", "pull", cwd=clone))
    assert files_under(clone / "data") == files_under(git_repo / "data")


def test_errors_name_the_remote_and_the_option(git_repo: Path, run_cli: CliRunner, moto_s3: MotoS3) -> None:
    make_data(git_repo, 3)
    ok(run_cli("add", "data"))
    s3_remote(run_cli, moto_s3, "no-such-bucket")
    failed = run_cli("data", "push")
    assert failed.code == 1 and "remote 's3' (s3://no-such-bucket/dvcstore)" in failed.err

    for words, message in (
        (("sse", "AES256"), "option 'sse' in '.dvc/config' is not supported for s3 remotes"),
        (("use_ssl", "maybe"), "'use_ssl' in '.dvc/config' must be true or false, not 'maybe'"),
        (("jobs", "0"), "'jobs' in '.dvc/config' must be a positive integer, not '0'"),
        (("read_timeout", "soon"), "'read_timeout' in '.dvc/config' must be seconds, not 'soon'"),
    ):
        failed = run_cli("remote", "modify", "s3", *words)
        assert failed.code == 1 and f"remote 's3': {message}" in failed.err
    failed = run_cli("remote", "modify", "gone", "endpointurl", "http://x")
    assert failed.code == 1 and "remote 'gone' doesn't exist" in failed.err
    ok(run_cli("remote", "modify", "--local", "s3", "access_key_id", "testing"))
    assert "access_key_id = testing" in (git_repo / ".dvc" / "config.local").read_text()
    ok(run_cli("remote", "modify", "--local", "s3", "--unset", "access_key_id"))
    assert "access_key_id" not in (git_repo / ".dvc" / "config.local").read_text()

    write_config(git_repo, "remote.s3", "sse", "AES256")  # as by hand or by DVC: refused when used, not ignored
    with pytest.raises(RemoteError, match="option 'sse' in '.dvc/config' is not supported"):
        get_remote(git_repo)
