"""Data remotes: DVC 3's layout on the remote, only-missing transfers, atomic writes, config and errors.

Remotes are real: fsspec's in-memory file system (``memory://``), local folders and ``file://`` URLs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import files_under, md5, write_bytes

from jupyter_exp.data.cache import Cache
from jupyter_exp.data.hashing import HashInfo
from jupyter_exp.data.remote import MAX_JOBS, Remote, RemoteError
from jupyter_exp.data.remote_config import (
    add_remote,
    default_remote,
    get_remote,
    list_remotes,
    remove_remote,
    set_default_remote,
)
from jupyter_exp.fsutil import HOST


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Cache, dict[str, HashInfo]]:
    """A cache holding a directory (three files) and a single file, as ``add`` leaves it."""
    root = tmp_path / "ws"
    write_bytes(root / "data" / "a.txt", b"alpha\n")
    write_bytes(root / "data" / "sub" / "b.txt", b"beta\n")
    write_bytes(root / "data" / "sub" / "c.bin", os.urandom(5000))
    write_bytes(root / "model.bin", b"weights")
    cache = Cache(root)
    return cache, {"data": cache.save("data"), "model.bin": cache.save("model.bin")}


def objects_of(infos: dict[str, HashInfo]) -> dict[str, str]:
    return {info.md5: path for path, info in infos.items()}


def memory_remote() -> Remote:
    return Remote("mem", f"memory://remote-{uuid.uuid4().hex}")


def stored(store: Path, md5: str) -> Path:
    """Where a remote in the folder ``store`` keeps the object ``md5`` (DVC 3's layout)."""
    return store / "files" / "md5" / md5[:2] / md5[2:]


def drop_from_cache(cache: Cache, md5: str) -> None:
    os.chmod(cache.object_path(md5), 0o644)
    cache.object_path(md5).unlink()


def test_push_writes_dvc3_layout_and_fetch_restores_a_fresh_cache(
    workspace: tuple[Cache, dict[str, HashInfo]], tmp_path: Path
) -> None:
    cache, infos = workspace
    remote = Remote("store", str(tmp_path / "store"))
    result = remote.push(cache, objects_of(infos))
    assert result.transferred == 5  # three files, the .dir manifest, the model
    local = files_under(cache.objects_dir)
    assert files_under(tmp_path / "store" / "files" / "md5") == local
    assert any(name.endswith(".dir") for name in local)

    fresh = Cache(tmp_path / "clone")
    fetched = remote.fetch(fresh, objects_of(infos))
    assert fetched.transferred == 5
    assert files_under(fresh.objects_dir) == local
    assert all(fresh.exists(info) for info in infos.values())
    fresh.checkout("data", infos["data"])
    assert files_under(tmp_path / "clone" / "data") == files_under(tmp_path / "ws" / "data")
    assert (fresh.object_path(infos["model.bin"].md5).stat().st_mode & 0o777) == 0o444  # read-only, as DVC


def test_only_missing_objects_are_uploaded_and_downloaded(
    workspace: tuple[Cache, dict[str, HashInfo]], tmp_path: Path
) -> None:
    cache, infos = workspace
    store = tmp_path / "store"
    remote = Remote("store", str(store))
    remote.push(cache, {infos["model.bin"].md5: "model.bin"})
    model_obj = stored(store, infos["model.bin"].md5)
    before = model_obj.stat().st_ino

    result = remote.push(cache, objects_of(infos))
    assert (result.transferred, result.present) == (4, 1)
    assert model_obj.stat().st_ino == before  # not rewritten
    assert remote.push(cache, objects_of(infos)).transferred == 0

    fresh = Cache(tmp_path / "clone")
    assert remote.fetch(fresh, {infos["model.bin"].md5: "model.bin"}).transferred == 1
    again = remote.fetch(fresh, objects_of(infos))
    assert (again.transferred, again.present) == (4, 1)
    assert remote.fetch(fresh, objects_of(infos)).transferred == 0


def test_memory_and_file_url_remotes(workspace: tuple[Cache, dict[str, HashInfo]], tmp_path: Path) -> None:
    cache, infos = workspace
    for remote in (memory_remote(), Remote("f", (tmp_path / "via-url").as_uri())):
        assert remote.push(cache, objects_of(infos)).transferred == 5
        listed = remote.fs.find(remote.path)  # fsspec's own view of what landed there
        assert sorted(p.rsplit("/files/md5/", 1)[1].replace("/", "") for p in listed) == sorted(
            p.replace("/", "") for p in files_under(cache.objects_dir)
        )
        assert remote.existing(list(objects_of(infos))) == set(objects_of(infos))
        fresh = Cache(tmp_path / f"clone-{remote.name}")
        assert remote.fetch(fresh, objects_of(infos), jobs=1).transferred == 5
        assert all(fresh.exists(info) for info in infos.values())


def test_many_objects_in_parallel_with_progress(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    for i in range(300):
        write_bytes(root / "many" / f"{i:03}.txt", f"file {i}\n".encode())
    cache = Cache(root)
    info = cache.save("many")
    remote = memory_remote()
    seen: list[tuple[int, int]] = []
    result = remote.push(cache, {info.md5: "many"}, jobs=8, progress=lambda d, t: seen.append((d, t)))
    assert result.transferred == 301
    assert seen[-1] == (301, 301) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    fresh = Cache(tmp_path / "clone")
    assert remote.fetch(fresh, {info.md5: "many"}, jobs=8).transferred == 301
    assert fresh.exists(info)


def test_no_temporary_files_are_left_and_rename_is_atomic(
    workspace: tuple[Cache, dict[str, HashInfo]], tmp_path: Path
) -> None:
    cache, infos = workspace
    store = tmp_path / "store"
    Remote("store", str(store)).push(cache, objects_of(infos))
    fresh = Cache(tmp_path / "clone")
    Remote("store", str(store)).fetch(fresh, objects_of(infos))
    leftovers = [p for p in [*store.rglob(".*"), *fresh.cache_dir.rglob(".*")] if p.is_file()]
    assert leftovers == []


def test_the_next_push_removes_the_temp_files_of_killed_uploads_only(
    workspace: tuple[Cache, dict[str, HashInfo]], tmp_path: Path
) -> None:
    cache, infos = workspace
    store = tmp_path / "store"
    md5 = infos["model.bin"].md5
    folder = stored(store, md5).parent
    folder.mkdir(parents=True)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = folder / f".{md5[2:]}.{HOST}-{int(gone.stdout)}-0a1b2c.tmp"  # that process no longer runs
    live = folder / f".{md5[2:]}.{HOST}-{os.getpid()}-3d4e5f.tmp"  # this one could still rename its copy
    dead.write_bytes(b"wei")
    live.write_bytes(b"weigh")

    Remote("store", str(store)).push(cache, objects_of(infos))

    assert not dead.exists() and live.exists()
    assert stored(store, md5).read_bytes() == b"weights"


def test_fetch_names_the_files_missing_on_the_remote(
    workspace: tuple[Cache, dict[str, HashInfo]], tmp_path: Path
) -> None:
    cache, infos = workspace
    store = tmp_path / "store"
    remote = Remote("store", str(store))
    remote.push(cache, objects_of(infos))
    b_md5 = md5(b"beta\n")
    stored(store, b_md5).unlink()
    stored(store, infos["model.bin"].md5).unlink()
    fresh = Cache(tmp_path / "clone")
    with pytest.raises(
        RemoteError, match=r"2 object\(s\) are missing on remote 'store'.*'data/sub/b.txt', 'model.bin'"
    ):
        remote.fetch(fresh, objects_of(infos))
    assert fresh.object_path(md5(b"alpha\n")).is_file()  # the rest was fetched


def test_push_names_files_neither_local_nor_remote_and_pushes_the_rest(
    workspace: tuple[Cache, dict[str, HashInfo]], tmp_path: Path
) -> None:
    cache, infos = workspace
    drop_from_cache(cache, infos["model.bin"].md5)
    remote = memory_remote()
    with pytest.raises(
        RemoteError, match=r"neither in the cache nor on remote 'mem'.*'model.bin'.*the other 4"
    ):
        remote.push(cache, objects_of(infos))
    assert remote.existing([infos["data"].md5]) == {infos["data"].md5}


def test_a_dir_manifest_is_not_uploaded_without_its_files(
    workspace: tuple[Cache, dict[str, HashInfo]], tmp_path: Path
) -> None:
    cache, infos = workspace
    drop_from_cache(cache, md5(b"alpha\n"))
    remote = memory_remote()
    with pytest.raises(RemoteError, match="'data/a.txt'"):
        remote.push(cache, objects_of(infos))
    assert infos["data"].md5 not in remote.existing([infos["data"].md5])


def test_corrupted_remote_object_is_refused(
    workspace: tuple[Cache, dict[str, HashInfo]], tmp_path: Path
) -> None:
    cache, infos = workspace
    store = tmp_path / "store"
    remote = Remote("store", str(store))
    remote.push(cache, objects_of(infos))
    stored(store, infos["model.bin"].md5).write_bytes(b"tampered")
    fresh = Cache(tmp_path / "clone")
    with pytest.raises(RemoteError, match=f"object {infos['model.bin'].md5} on remote 'store'.*corrupted"):
        remote.fetch(fresh, {infos["model.bin"].md5: "model.bin"})
    assert not fresh.object_path(infos["model.bin"].md5).exists()


def test_unreachable_remotes(workspace: tuple[Cache, dict[str, HashInfo]], tmp_path: Path) -> None:
    cache, infos = workspace
    with pytest.raises(RemoteError, match=r"remote 'gone' \(.*nowhere\) is unreachable"):
        Remote("gone", str(tmp_path / "nowhere")).fetch(Cache(tmp_path / "clone"), objects_of(infos))
    blocker = write_bytes(tmp_path / "a-file", b"not a folder")
    with pytest.raises(RemoteError, match=r"cannot (list|upload to) remote 'blocked'"):
        Remote("blocked", str(blocker / "store")).push(cache, objects_of(infos))
    with pytest.raises(RemoteError, match="unusable url 'nosuchproto://x'"):
        Remote("odd", "nosuchproto://x").push(cache, objects_of(infos))


# -- configuration --------------------------------------------------------------------------------------------


def test_config_is_written_in_dvc_syntax(git_repo: Path, tmp_path: Path) -> None:
    add_remote(git_repo, "store", "/srv/dvc-store", default=True)
    add_remote(git_repo, "mem", "memory://bucket/path")
    text = (git_repo / ".dvc" / "config").read_text()
    assert "['remote \"store\"']\n    url = /srv/dvc-store\n" in text
    assert "[core]\n    remote = store\n" in text
    assert list_remotes(git_repo) == {"store": "/srv/dvc-store", "mem": "memory://bucket/path"}
    assert default_remote(git_repo) == "store"

    with pytest.raises(RemoteError, match="remote 'store' already exists"):
        add_remote(git_repo, "store", "/elsewhere")
    add_remote(git_repo, "store", "/elsewhere", force=True)
    assert list_remotes(git_repo)["store"] == "/elsewhere"

    set_default_remote(git_repo, "mem")
    assert default_remote(git_repo) == "mem"
    remove_remote(git_repo, "mem")
    assert default_remote(git_repo) is None and list_remotes(git_repo) == {"store": "/elsewhere"}
    assert "mem" not in (git_repo / ".dvc" / "config").read_text()


def test_relative_local_url_is_stored_relative_to_dvc_dir(git_repo: Path) -> None:
    sub = git_repo / "sub"
    sub.mkdir()
    assert add_remote(git_repo, "up", "../../store", cwd=sub) == "../../store"
    remote = get_remote(git_repo, "up")
    assert Path(remote.url) == (git_repo.parent / "store").resolve()


def test_local_config_wins_and_errors_name_the_remotes(git_repo: Path) -> None:
    add_remote(git_repo, "team", "/team-store", default=True)
    add_remote(git_repo, "mine", "/my-store", local=True, default=True)
    assert "mine" in (git_repo / ".dvc" / "config.local").read_text()
    assert get_remote(git_repo).name == "mine"
    with pytest.raises(RemoteError, match="remote 'ghost' doesn't exist.*'mine', 'team'"):
        get_remote(git_repo, "ghost")
    remove_remote(git_repo, "mine")
    assert get_remote(git_repo).name == "team"
    remove_remote(git_repo, "team")
    with pytest.raises(RemoteError, match="no default remote set"):
        get_remote(git_repo)
    with pytest.raises(RemoteError, match="not a valid remote name"):
        add_remote(git_repo, "bad name", "/x")


def test_s3_options_are_dvcs_keys_mapped_to_s3fs() -> None:
    from jupyter_exp.data.remote_config import storage_options

    options = storage_options(
        "s3",
        "s3://bucket/path",
        {
            "url": "s3://bucket/path",
            "endpointurl": "http://127.0.0.1:9000",
            "region": "eu-west-1",
            "access_key_id": "AKIA",
            "secret_access_key": "secret",
            "session_token": "token",
            "profile": "team",
            "use_ssl": "false",
            "ssl_verify": "/etc/ca.pem",
            "allow_anonymous_login": "true",
            "read_timeout": "30",
            "jobs": "16",
            "verify": "true",
        },
    )
    assert options == {
        "key": "AKIA",
        "secret": "secret",
        "token": "token",
        "profile": "team",
        "use_ssl": False,
        "anon": True,
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9000", "region_name": "eu-west-1", "verify": "/etc/ca.pem"},
        "config_kwargs": {"max_pool_connections": MAX_JOBS, "read_timeout": 30.0},
    }
    assert storage_options("s3", "s3://b", {"ssl_verify": "false"})["client_kwargs"] == {"verify": False}
    assert storage_options("local", "/srv/store", {"url": "/srv/store", "jobs": "4"}) == {}
    with pytest.raises(RemoteError, match="option 'endpointurl' in '.dvc/config' is not supported for local"):
        storage_options("local", "/srv/store", {"endpointurl": "http://x"})
