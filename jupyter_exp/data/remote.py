"""Data remotes laid out as DVC 3's: ``<remote>/files/md5/<2 hex>/<30 hex>[.dir]``, reached through fsspec.

A remote is a local path or any fsspec URL (``memory://``, ``file://``, ``s3://`` with ``jupyter-exp[s3]``)
plus the file system's options (``remote_config.py`` reads both from ``.dvc/config``), so what ``dvc push``
wrote we can fetch and the reverse. Transfers copy only what the other side lacks, found by listing the
remote's ``<2 hex>`` folders (one request per folder, not one per object), ``jobs`` at a time on a thread
pool that holds only a few futures per thread, so a million files cost no more memory than ten.

Nothing half written is ever under an object's final name: on a file system with rename, an upload goes to a
temporary name first; an object store's PUT is atomic (an object appears whole or not at all, a multipart
upload only once completed), so it gets the final key directly. A download is checked against its md5 and
renamed into the cache. So a transfer killed at any moment is resumed by running it again, which copies only
what is still missing. Directory manifests (``.dir``) are uploaded after the files they list: a manifest on
the remote means its files are there too. fsspec is imported on first use only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from jupyter_exp.errors import JupyterExpError
from jupyter_exp.fsutil import tmp_name, writer_gone

from .cache import CACHE_MODE, Cache
from .hashing import DIR_SUFFIX, TreeEntry

Progress = Callable[[int, int], None]
"""``progress(objects_done, objects_total)``, called from the caller's thread."""

CHUNK_SIZE = 1024 * 1024
MAX_JOBS = 128
# fsspec protocols with a real rename: objects go to a temp name first. Object stores' uploads are atomic.
_RENAMING = frozenset({"file", "local", "memory", "sftp", "ssh", "hdfs", "webhdfs"})
# Below this many objects asked about, a file system checks a folder's lone object rather than list the folder
# (an object store's existence check costs more requests than a listing: s3fs HEADs, then lists).
_FEW = 64
_PAGE = 1000  # names an object store's listing request returns (S3's ListObjectsV2 maximum)
_IN_FLIGHT_PER_JOB = 4  # futures queued per thread: enough to keep each busy, few enough to stay small
T = TypeVar("T")


class RemoteError(JupyterExpError):
    """A data remote is unknown, unreachable, or lacks objects a command needs."""


def default_jobs() -> int:
    """Transfers are I/O bound: several per core, as DVC's default."""
    return min(32, 4 * (os.cpu_count() or 1))


@dataclass
class TransferResult:
    """How many objects were copied and how many the destination had already."""

    transferred: int = 0
    present: int = 0


class Remote:
    """One remote's object store: which objects it holds, uploads from and downloads into a :class:`Cache`.

    ``storage_options`` are the fsspec file system's arguments; ``jobs`` the remote's default parallelism.
    """

    def __init__(
        self, name: str, url: str, storage_options: Mapping[str, Any] | None = None, *, jobs: int | None = None
    ) -> None:
        self.name = name
        self.url = url
        self.storage_options = dict(storage_options or {})
        self.jobs = jobs
        self._fs: Any = None
        self._path = ""
        self._dirs_made: set[str] = set()
        self._tidied: set[str] = set()  # folders whose dead uploads were removed
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Remote({self.name!r}, {self.url!r})"

    @property
    def fs(self) -> Any:
        if self._fs is None:
            try:
                import fsspec
            except ImportError as exc:
                raise RemoteError("data remotes need fsspec: `pip install fsspec`") from exc
            try:
                # A fresh instance: fsspec's shared ones keep listings another process may have outdated.
                self._fs, self._path = fsspec.core.url_to_fs(
                    self.url, skip_instance_cache=True, **self.storage_options
                )
            except ImportError as exc:
                hint = " (`pip install 'jupyter-exp[s3]'`)" if self.url.startswith("s3://") else ""
                raise RemoteError(f"remote '{self.name}' ({self.url}) needs a package{hint}: {exc}") from exc
            except (ValueError, OSError, TypeError) as exc:
                raise RemoteError(f"remote '{self.name}' has an unusable url '{self.url}': {exc}") from exc
            self._path = self._path.rstrip("/") or "/"
        return self._fs

    @property
    def path(self) -> str:
        _ = self.fs
        return self._path

    def object_path(self, md5: str) -> str:
        return posixpath.join(self.path, "files", "md5", md5[:2], md5[2:])

    def _describe(self) -> str:
        return f"remote '{self.name}' ({self.url})"

    def _renames(self) -> bool:
        return not _RENAMING.isdisjoint(_protocols(self.fs))

    # -- what is there --------------------------------------------------------------------------------------

    def existing(self, md5s: Iterable[str], *, jobs: int | None = None) -> set[str]:
        """Which of ``md5s`` the remote holds, from listings rather than one request per object.

        A file system lists each ``<2 hex>`` folder holding a wanted object (or, when few are asked, checks a
        folder's lone one). An object store answers 1,000 names a request: its folders are listed ``jobs`` at
        a time, unless the remote is small enough that paging through all of it takes fewer rounds of
        requests (an empty or young remote: one or a few requests instead of 256). Its size is estimated from
        the first folder's listing, as DVC does."""
        by_prefix: dict[str, set[str]] = {}
        for md5 in md5s:
            by_prefix.setdefault(md5[:2], set()).add(md5[2:])
        if not by_prefix:
            return set()
        prefixes = sorted(by_prefix)
        with self._errors_named("list"):
            first = self._listed(prefixes[0])
        if not self._renames():
            rounds_by_folder = (len(prefixes) - 1) / max(1, min(jobs or self.jobs or default_jobs(), MAX_JOBS))
            if len(first) * 256 / _PAGE < rounds_by_folder:
                return {md5 for md5 in self._listed_all() if md5[2:] in by_prefix.get(md5[:2], ())}
        count = sum(len(names) for names in by_prefix.values())
        check_lone = count < _FEW and self._renames()
        fs = self.fs

        def probe(prefix: str) -> set[str]:
            names = by_prefix[prefix]
            if len(names) == 1 and check_lone:
                (name,) = names
                return {prefix + name} if fs.exists(self.object_path(prefix + name)) else set()
            return {prefix + name for name in names if name in self._listed(prefix)}

        found = {prefixes[0] + name for name in by_prefix[prefixes[0]] if name in first}
        for part in self._pool(probe, prefixes[1:], jobs=jobs, what="list"):
            found |= part
        return found

    def _listed(self, prefix: str) -> set[str]:
        """The names in one ``<2 hex>`` folder (nothing when it does not exist)."""
        folder = posixpath.join(self.path, "files", "md5", prefix)
        try:
            names = self._names(folder)
        except FileNotFoundError:
            return set()
        self._remove_dead_uploads(folder, names)
        return names

    def _names(self, folder: str) -> set[str]:
        return {p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(folder, detail=False)}

    def _remove_dead_uploads(self, folder: str, names: Iterable[str] | None = None) -> None:
        """Remove what killed uploads left in ``folder`` (``.<md5 rest>.<host>-<pid>-<random>.tmp``), once per
        folder: never an object's name, so only tidiness is at stake, and a remote we may not write to is
        left as it is."""
        with self._lock:
            if folder in self._tidied:
                return
            self._tidied.add(folder)
        if names is None:
            try:
                names = self._names(folder)
            except OSError:
                return
        now = time.time()
        for name in [name for name in names if name.endswith(".tmp")]:
            path = posixpath.join(folder, name)
            with contextlib.suppress(OSError):
                mtime = self.fs.info(path).get("mtime") or now
                mtime = mtime.timestamp() if hasattr(mtime, "timestamp") else float(mtime)
                if writer_gone(name.split(".", 2)[-1], now, mtime):
                    self.fs.rm_file(path)

    def _listed_all(self) -> set[str]:
        """Every object's md5 on the remote, paging through ``files/md5/`` once."""
        top = posixpath.join(self.path, "files", "md5")
        with self._errors_named("list"):
            try:
                paths = self.fs.find(top)
            except FileNotFoundError:
                return set()
        return {"".join(p.rsplit("/", 2)[-2:]) for p in paths}

    @contextlib.contextmanager
    def _errors_named(self, what: str) -> Iterator[None]:
        """I/O errors (and an S3 client's own) as one :class:`RemoteError` naming the remote."""
        try:
            yield
        except RemoteError:
            raise
        except Exception as exc:
            if isinstance(exc, OSError) or _from_client_library(exc):
                raise RemoteError(f"cannot {what} {self._describe()}: {exc}") from exc
            raise

    def exists(self) -> bool:
        """Whether the remote's top folder is there (object stores: the bucket may be empty)."""
        try:
            return bool(self.fs.exists(self.path))
        except OSError:
            return False

    # -- upload ---------------------------------------------------------------------------------------------

    def _makedirs(self, folder: str) -> None:
        with self._lock:
            if folder in self._dirs_made:
                return
        self.fs.makedirs(folder, exist_ok=True)
        self._remove_dead_uploads(folder)
        with self._lock:
            self._dirs_made.add(folder)

    def upload(self, source: Path, md5: str) -> None:
        """Copy one cache object to the remote: whole or not at all under its final name."""
        target = self.object_path(md5)
        fs = self.fs
        if not self._renames():  # an object store: no folders to make, and a PUT is atomic
            fs.put_file(str(source), target)
            return
        folder = posixpath.dirname(target)
        self._makedirs(folder)
        tmp = posixpath.join(folder, tmp_name(md5[2:]))
        try:
            fs.put_file(str(source), tmp)
            fs.mv(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                fs.rm_file(tmp)
            raise

    # -- download -------------------------------------------------------------------------------------------

    def download(self, md5: str, cache: Cache) -> None:
        """Copy one object into ``cache``, checking its md5 before it is renamed into place (read-only, as
        DVC). From a file system in one pass, hashing while copying; from an object store with one GET (its
        ``open`` would ask for the size first), then hashing the local copy."""
        target = cache.object_path(md5)
        folder = str(target.parent)
        if folder not in self._dirs_made:
            target.parent.mkdir(parents=True, exist_ok=True)
            with self._lock:
                self._dirs_made.add(folder)
        tmp = cache.tmp_path()
        digest = hashlib.md5()
        try:
            if self._renames():
                with self.fs.open(self.object_path(md5), "rb") as fin, open(tmp, "wb") as fout:
                    while chunk := fin.read(CHUNK_SIZE):
                        digest.update(chunk)
                        fout.write(chunk)
            else:
                self.fs.get_file(self.object_path(md5), str(tmp))
                with open(tmp, "rb") as fin:
                    while chunk := fin.read(CHUNK_SIZE):
                        digest.update(chunk)
            if digest.hexdigest() != md5.removesuffix(DIR_SUFFIX):
                raise RemoteError(
                    f"object {md5} on {self._describe()} is corrupted: its content hashes to "
                    f"{digest.hexdigest()}"
                )
            os.chmod(tmp, CACHE_MODE)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    # -- pool -----------------------------------------------------------------------------------------------

    def _pool(
        self,
        func: Callable[[str], T],
        items: list[str],
        *,
        jobs: int | None,
        what: str,
        progress: Progress | None = None,
        done: int = 0,
        total: int = 0,
        missing: list[str] | None = None,
    ) -> list[T]:
        """``func`` over ``items`` on ``jobs`` threads, a few queued per thread. A missing source
        (FileNotFoundError) is collected into ``missing`` when given; other I/O errors become one
        :class:`RemoteError` naming the remote, after what had started has finished."""
        results: list[T] = []
        if not items:
            return results
        workers = max(1, min(jobs or self.jobs or default_jobs(), MAX_JOBS, len(items)))
        todo = iter(items)
        pending: dict[Future[T], str] = {}
        with self._errors_named(what), ThreadPoolExecutor(workers, thread_name_prefix=f"remote-{what}") as pool:
            try:
                while True:
                    while len(pending) < workers * _IN_FLIGHT_PER_JOB and (item := next(todo, None)) is not None:
                        pending[pool.submit(func, item)] = item
                    if not pending:
                        break
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        item = pending.pop(future)
                        try:
                            results.append(future.result())
                        except FileNotFoundError:
                            if missing is None:
                                raise
                            missing.append(item)
                        done += 1
                        if progress is not None:
                            progress(done, total)
            except BaseException:
                _cancel(pending)
                raise
        return results

    def push(
        self,
        cache: Cache,
        objects: Mapping[str, str],
        *,
        jobs: int | None = None,
        progress: Progress | None = None,
    ) -> TransferResult:
        """Upload the objects (``md5 -> output path``, directories with their files) the remote lacks.

        Objects the local cache lacks and the remote has too are an error naming their paths, raised after
        everything else was uploaded.
        """
        # A manifest on the remote vouches for the files it lists (it goes up after them, here and in DVC): only
        # the others' files are looked for, so a no-op push of a 100,000-file folder asks about one object.
        vouched = self.existing([md5 for md5 in objects if md5.endswith(DIR_SUFFIX)], jobs=jobs)
        files, manifests, _ = _expand(cache, {m: label for m, label in objects.items() if m not in vouched})
        wanted = {**files, **manifests}
        present = self.existing(wanted, jobs=jobs)
        todo = [md5 for md5 in wanted if md5 not in present]
        present |= vouched | set(_expand(cache, {m: objects[m] for m in vouched})[0])
        local_missing = [md5 for md5 in todo if not cache.object_path(md5).is_file()]
        upload_files = [md5 for md5 in todo if md5 in files and md5 not in local_missing]
        upload_dirs = [md5 for md5 in todo if md5 in manifests and md5 not in local_missing]
        # A manifest goes up only when every file it lists is there: its presence vouches for them.
        broken_dirs = {
            md5 for md5 in upload_dirs if any(e.md5 in local_missing for e in cache.load_dir_manifest(md5))
        }
        upload_dirs = [md5 for md5 in upload_dirs if md5 not in broken_dirs]
        total = len(upload_files) + len(upload_dirs)

        def send(md5: str) -> None:
            self.upload(cache.object_path(md5), md5)

        done = 0
        for batch in (upload_files, upload_dirs):  # manifests after the files they vouch for
            self._pool(send, batch, jobs=jobs, what="upload to", progress=progress, done=done, total=total)
            done += len(batch)
        if local_missing:
            raise RemoteError(
                f"{len(local_missing)} object(s) are neither in the cache nor on {self._describe()}: "
                f"{_name_missing([wanted[m] for m in local_missing])} (reproduce or pull them first); "
                f"the other {total} were pushed"
            )
        return TransferResult(transferred=total, present=len(present))

    def fetch(
        self,
        cache: Cache,
        objects: Mapping[str, str],
        *,
        jobs: int | None = None,
        progress: Progress | None = None,
    ) -> TransferResult:
        """Download into the cache the objects (``md5 -> output path``, directories with their files) it lacks.

        Objects the remote lacks are an error naming their paths, raised after everything else was fetched.
        """
        missing: list[str] = []
        _, _, unknown = _expand(cache, objects)

        def receive(md5: str) -> None:
            self.download(md5, cache)

        # Manifests first: the files to fetch are the ones they list.
        self._pool(receive, unknown, jobs=jobs, what="download from", missing=missing)
        files, manifests, _ = _expand(cache, objects)
        wanted = {**files, **manifests}
        todo = [md5 for md5 in files if not cache.object_path(md5).is_file()]
        self._pool(
            receive,
            todo,
            jobs=jobs,
            what="download from",
            progress=progress,
            total=len(todo),
            missing=missing,
        )
        fetched = len(unknown) + len(todo) - len(missing)
        if missing:
            if not self.exists():
                raise RemoteError(f"{self._describe()} is unreachable: '{self.path}' does not exist")
            raise RemoteError(
                f"{len(missing)} object(s) are missing on {self._describe()}: "
                f"{_name_missing([wanted[m] for m in missing])} (push them from a repository that has them); "
                f"the other {fetched} were fetched"
            )
        present = len(wanted) - len(todo) - len(unknown)
        return TransferResult(transferred=fetched, present=present)


def _cancel(futures: Iterable[Any]) -> None:
    for future in futures:
        future.cancel()


def _from_client_library(exc: Exception) -> bool:
    """An S3 client's own errors (no credentials, bad endpoint) that s3fs passes on as they are."""
    return type(exc).__module__.split(".")[0] in {"botocore", "aiobotocore", "aiohttp"}


def _protocols(fs: Any) -> set[str]:
    protocol = fs.protocol
    return {protocol} if isinstance(protocol, str) else set(protocol)


def _expand(cache: Cache, objects: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """(files, manifests, manifests missing locally) of ``objects`` (md5 -> the path it is an output at)."""
    files: dict[str, str] = {}
    manifests: dict[str, str] = {}
    unknown: list[str] = []
    for md5, label in objects.items():
        if not md5.endswith(DIR_SUFFIX):
            files.setdefault(md5, label)
            continue
        manifests.setdefault(md5, label)
        if not cache.object_path(md5).is_file():
            unknown.append(md5)
            continue
        for entry in cache.load_dir_manifest(md5):
            files.setdefault(entry.md5, _inside(label, entry))
    return files, manifests, unknown


def _inside(label: str, entry: TreeEntry) -> str:
    return f"{label}/{entry.relpath}"


def _name_missing(labels: list[str], limit: int = 10) -> str:
    shown = ", ".join(f"'{label}'" for label in sorted(labels)[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")
