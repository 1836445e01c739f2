"""Data remotes laid out as DVC 3's: ``<remote>/files/md5/<2 hex>/<30 hex>[.dir]``, reached through fsspec.

A remote is a named ``url`` in ``.dvc/config`` (``['remote "name"']``, default in ``[core] remote``), a local
path or any fsspec URL (``memory://``, ``file://``, ``s3://`` with its fsspec package installed), so what
``dvc push`` wrote we can fetch and the reverse. Transfers copy only what the other side lacks, on a thread
pool; each object lands under a temporary name and is renamed into place (object stores, whose uploads are
atomic already, get it directly), so an interrupted transfer never leaves half an object on either side.
Directory manifests (``.dir``) are uploaded after the files they list: a manifest on the remote means its
files are there too. fsspec is imported on first use only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from jupyter_exp.config import CONFIG_FILES, load_config, write_config
from jupyter_exp.errors import JupyterExpError
from jupyter_exp.fsutil import atomic_write_text

from .cache import CACHE_MODE, Cache
from .hashing import DIR_SUFFIX, TreeEntry

Progress = Callable[[int, int], None]
"""``progress(objects_done, objects_total)``, called from the caller's thread."""

CHUNK_SIZE = 1024 * 1024
# fsspec protocols with a real rename: objects go to a temp name first. Object stores' uploads are atomic.
_RENAMING = frozenset({"file", "local", "memory", "sftp", "ssh", "hdfs", "webhdfs"})
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
T = TypeVar("T")


class RemoteError(JupyterExpError):
    """A data remote is unknown, unreachable, or lacks objects a command needs."""


def default_jobs() -> int:
    """Transfers are I/O bound: several per core, as DVC's default."""
    return min(32, 4 * (os.cpu_count() or 1))


# -- configuration ------------------------------------------------------------------------------------------


def list_remotes(root: str | os.PathLike[str]) -> dict[str, str]:
    """Remote name -> URL as written in ``.dvc/config`` (``config.local`` wins)."""
    remotes = load_config(root)["remote"]
    return {name: options["url"] for name, options in remotes.items() if options.get("url")}


def default_remote(root: str | os.PathLike[str]) -> str | None:
    return load_config(root)["core"].get("remote") or None


def _config_url(root: Path, url: str, cwd: Path) -> str:
    """What ``remote add`` writes: URLs as given, a relative local path relative to ``.dvc/`` (as DVC does,
    since DVC resolves it against the config file's folder)."""
    if _is_url(url) or os.path.isabs(url):
        return url
    return Path(os.path.relpath((cwd / url).resolve(), root / ".dvc")).as_posix()


def _is_url(url: str) -> bool:
    return "://" in url


def add_remote(
    root: str | os.PathLike[str],
    name: str,
    url: str,
    *,
    default: bool = False,
    force: bool = False,
    local: bool = False,
    cwd: str | os.PathLike[str] | None = None,
) -> str:
    """Write ``['remote "name"'] url = ...`` (and ``[core] remote`` with ``default``); returns the URL written."""
    root = Path(root)
    if not _NAME.match(name):
        raise RemoteError(f"'{name}' is not a valid remote name: use letters, digits, '_', '-' and '.'")
    if name in list_remotes(root) and not force:
        raise RemoteError(f"remote '{name}' already exists. Use `-f|--force` to overwrite it.")
    written = _config_url(root, url, Path(cwd) if cwd is not None else Path.cwd())
    write_config(root, f"remote.{name}", "url", written, local=local)
    if default:
        write_config(root, "core", "remote", name, local=local)
    return written


def remove_remote(root: str | os.PathLike[str], name: str) -> None:
    """Drop the remote's section from whichever config files define it, and the default if it was that."""
    root = Path(root)
    if name not in load_config(root)["remote"]:
        raise RemoteError(f"remote '{name}' doesn't exist (known: {_known(root)})")
    for local, relname in enumerate(CONFIG_FILES):
        path = root / relname
        if path.exists():
            _drop_section(path, f'remote "{name}"')
            text = path.read_text(encoding="utf-8")
            if re.search(rf"^\s*remote\s*=\s*['\"]?{re.escape(name)}['\"]?\s*$", text, re.MULTILINE):
                write_config(root, "core", "remote", None, local=bool(local))


def _drop_section(path: Path, section: str) -> None:
    """Remove ``[section]`` and its keys, keeping every other line (and comment) as it was."""
    lines = path.read_text(encoding="utf-8").splitlines()
    wanted = re.sub(r"\s+", " ", section)
    kept: list[str] = []
    dropping = False
    for line in lines:
        header = re.match(r"""^\s*\[\s*(['"]?)(.+?)\1\s*\]\s*$""", line)
        if header:
            dropping = re.sub(r"\s+", " ", header[2].strip()) == wanted
        if not dropping:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    if kept != lines:
        atomic_write_text(path, "\n".join(kept) + "\n" if kept else "")


def set_default_remote(root: str | os.PathLike[str], name: str | None, *, local: bool = False) -> None:
    """Make ``name`` the default remote (``None``: no default)."""
    if name is not None and name not in list_remotes(root):
        raise RemoteError(f"remote '{name}' doesn't exist (known: {_known(Path(root))})")
    write_config(root, "core", "remote", name, local=local)


def _known(root: Path) -> str:
    return ", ".join(f"'{n}'" for n in sorted(list_remotes(root))) or "none; add one with `remote add`"


def get_remote(root: str | os.PathLike[str], name: str | None = None) -> Remote:
    """The remote called ``name``, or the default one; the error says how to configure one."""
    root = Path(root)
    remotes = list_remotes(root)
    if name is None:
        name = default_remote(root)
        if name is None:
            raise RemoteError(
                "no remote specified and no default remote set: use `-r NAME`, or set one with "
                "`remote add -d NAME URL` (or `remote default NAME`) in '.dvc/config'"
            )
    if name not in remotes:
        raise RemoteError(f"remote '{name}' doesn't exist in '.dvc/config' (known: {_known(root)})")
    url = remotes[name]
    if not _is_url(url) and not os.path.isabs(url):
        url = os.path.normpath(root / ".dvc" / url)
    return Remote(name, url)


# -- transfers ----------------------------------------------------------------------------------------------


@dataclass
class TransferResult:
    """How many objects were copied and how many the destination had already."""

    transferred: int = 0
    present: int = 0


class Remote:
    """One remote's object store: which objects it holds, uploads from and downloads into a :class:`Cache`."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url
        self._fs: Any = None
        self._path = ""
        self._dirs_made: set[str] = set()
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
                self._fs, self._path = fsspec.core.url_to_fs(self.url)
            except ImportError as exc:
                raise RemoteError(f"remote '{self.name}' ({self.url}) needs a package: {exc}") from exc
            except (ValueError, OSError) as exc:
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

    # -- what is there --------------------------------------------------------------------------------------

    def existing(self, md5s: Iterable[str], *, jobs: int | None = None) -> set[str]:
        """Which of ``md5s`` the remote holds: one listing per ``<2 hex>`` folder, or one existence check
        where only one object of that folder is asked about."""
        by_prefix: dict[str, set[str]] = {}
        for md5 in md5s:
            by_prefix.setdefault(md5[:2], set()).add(md5[2:])
        fs = self.fs

        def probe(prefix: str) -> set[str]:
            names = by_prefix[prefix]
            folder = posixpath.join(self.path, "files", "md5", prefix)
            if len(names) == 1:
                (name,) = names
                return {prefix + name} if fs.exists(posixpath.join(folder, name)) else set()
            try:
                listed = {p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(folder, detail=False)}
            except FileNotFoundError:
                return set()
            return {prefix + name for name in names if name in listed}

        found: set[str] = set()
        for part in self._pool(probe, list(by_prefix), jobs=jobs, what="list"):
            found |= part
        return found

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
        with self._lock:
            self._dirs_made.add(folder)

    def upload(self, source: Path, md5: str) -> None:
        """Copy one cache object to the remote, atomically where the file system can rename."""
        target = self.object_path(md5)
        folder = posixpath.dirname(target)
        self._makedirs(folder)
        fs = self.fs
        if _RENAMING.isdisjoint(_protocols(fs)):
            fs.put_file(str(source), target)
            return
        tmp = posixpath.join(folder, f".{md5[2:]}.{os.urandom(6).hex()}.tmp")
        try:
            fs.put_file(str(source), tmp)
            fs.mv(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                fs.rm_file(tmp)
            raise

    # -- download -------------------------------------------------------------------------------------------

    def download(self, md5: str, cache: Cache) -> None:
        """Copy one object into ``cache``, checking its md5 on the way (read-only, as DVC)."""
        target = cache.object_path(md5)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.tmp_path()
        digest = hashlib.md5()
        try:
            with self.fs.open(self.object_path(md5), "rb") as fin, open(tmp, "wb") as fout:
                while chunk := fin.read(CHUNK_SIZE):
                    digest.update(chunk)
                    fout.write(chunk)
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
        """``func`` over ``items`` on threads. A missing source (FileNotFoundError) is collected into
        ``missing`` when given; other I/O errors become one :class:`RemoteError` naming the remote."""
        results: list[T] = []
        if not items:
            return results
        workers = max(1, min(jobs or default_jobs(), len(items)))
        with ThreadPoolExecutor(workers, thread_name_prefix=f"remote-{what}") as pool:
            futures = {pool.submit(func, item): item for item in items}
            try:
                for future in as_completed(futures):
                    try:
                        results.append(future.result())
                    except FileNotFoundError:
                        if missing is None:
                            raise
                        missing.append(futures[future])
                    done += 1
                    if progress is not None:
                        progress(done, total)
            except RemoteError:
                _cancel(futures)
                raise
            except OSError as exc:
                _cancel(futures)
                raise RemoteError(f"cannot {what} {self._describe()}: {exc}") from exc
            except BaseException:
                _cancel(futures)
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
        files, manifests, _ = _expand(cache, objects)
        wanted = {**files, **manifests}
        present = self.existing(wanted, jobs=jobs)
        todo = [md5 for md5 in wanted if md5 not in present]
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
