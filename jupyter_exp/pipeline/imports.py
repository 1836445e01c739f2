"""Imports: data brought in from another Git/DVC repository (``import``) or any fsspec URL (``import-url``).

An import is a frozen ``.dvc`` file in DVC 3's layout: ``md5`` (the stage hash), ``frozen: true``, one
``deps`` entry saying where the data came from (``repo: {url, rev_lock}``, or a ``url`` with its ``md5``
or ``etag``) and the ``outs`` entry of the copy. Only the import commands (``import``, ``import-url``,
``update``) write it; repro and commit leave it byte for byte. ``status`` reports an import as
``dvc status`` does: a repository import whose source moved on is an "update available".
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from jupyter_exp import serialize
from jupyter_exp.config import load_config
from jupyter_exp.data.cache import Cache
from jupyter_exp.data.hashing import HashInfo
from jupyter_exp.errors import JupyterExpError
from jupyter_exp.fsutil import TreeReader, atomic_write_text
from jupyter_exp.pipeline.outputs_tree import OutputsTree, revision_tree
from jupyter_exp.pipeline.stage import Stage, build_data_stage

if TYPE_CHECKING:
    from jupyter_exp.pipeline.repro import Pipeline

# Keys DVC leaves out of a stage's md5 (annotations, flags and sizes that do not change what it is).
_MD5_EXCLUDED = frozenset(
    {"desc", "type", "labels", "meta", "locked", "frozen", "metric", "persist", "isexec", "size", "nfiles"}
)


class ImportSourceError(JupyterExpError):
    """An import's source cannot be read, or its target is in the way."""


def stage_md5(data: dict[str, Any]) -> str:
    """DVC's stage hash of a ``.dvc`` file's content: md5 of the sorted JSON without the excluded keys."""

    def strip(value: Any) -> Any:
        if isinstance(value, list):
            return [strip(v) for v in value]
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in _MD5_EXCLUDED}
        return value

    body = {k: v for k, v in data.items() if k not in ("md5", "meta", "desc")}
    if body.get("wdir") == ".":
        del body["wdir"]
    return hashlib.md5(json.dumps(strip(body), sort_keys=True).encode("utf-8")).hexdigest()


def changed_checksum(stage: Stage) -> bool:
    """Whether an import's ``.dvc`` file was edited since it was written (data tracked by ``add`` has no md5)."""
    if stage.import_source is None or "md5" not in stage.definition:
        return False
    return stage.definition["md5"] != stage_md5(stage.definition)


# -- sources ------------------------------------------------------------------------------------------------


def _local_path(url: str) -> Path | None:
    """The local folder a Git URL names (a path or ``file://``), else None."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(parsed.path)
    if not parsed.scheme or len(parsed.scheme) == 1:  # `C:\\...` reads as scheme "c"
        return Path(url)
    return None


class _SourceRepo:
    """A Git repository read with dulwich at one commit: its Git files plus the outputs its DVC cache holds."""

    def __init__(self, url: str, rev: str | None) -> None:
        from jupyter_exp.scm.git import Git

        self.url = url
        path = _local_path(url)
        if path is None or not (path / ".git").exists() and not (path / "HEAD").is_file():
            raise ImportSourceError(
                f"cannot import from '{url}': only Git repositories on this machine (a path or a file:// URL) "
                "can be read"
            )
        self.root = path.resolve()
        self.git = Git(self.root)
        try:
            self.sha = self.git.resolve(rev or "HEAD")
        except JupyterExpError as exc:
            raise ImportSourceError(f"cannot import from '{url}': {exc}") from exc

    def cache(self) -> Cache:
        cache_dir = load_config(self.root)["cache"].get("dir") if (self.root / ".dvc").is_dir() else None
        return Cache(self.root, cache_dir=cache_dir)

    def tree(self, cache: Cache) -> OutputsTree:
        return revision_tree(self.git.tree(self.sha), cache)

    def fetch_missing(self, path: str, into: Cache) -> None:
        """Download from the source's default remote the objects of the output holding ``path``."""
        from jupyter_exp.data.remote_config import get_remote

        info = self.tree(into).output_hash(path)
        if info is None:
            raise ImportSourceError(
                f"'{path}' is neither in Git nor a DVC output in '{self.url}' at {self.sha[:7]}"
            )
        try:
            remote = get_remote(self.root)
        except JupyterExpError as exc:
            raise ImportSourceError(
                f"'{path}' of '{self.url}' is not in its cache, and it has no remote to fetch it from ({exc})"
            ) from exc
        remote.fetch(into, {info.md5: path})


def _copy_tree(tree: TreeReader, path: str, dest: Path) -> None:
    if tree.isdir(path):
        dest.mkdir(parents=True)
        for name in tree.listdir(path):
            _copy_tree(tree, posixpath.join(path, name), dest / name)
    else:
        dest.write_bytes(tree.read_bytes(path))


def _download_from_repo(source: _SourceRepo, path: str, dest: Path, cache: Cache) -> None:
    path = posixpath.normpath(path)
    tree = source.tree(source.cache())
    if not tree.exists(path):
        raise ImportSourceError(f"'{path}' does not exist in '{source.url}' at {source.sha[:7]}")
    try:
        _copy_tree(tree, path, dest)
        return
    except FileNotFoundError:  # a DVC output the source's cache lacks: its remote may have it
        _remove(dest)
    source.fetch_missing(path, cache)
    _copy_tree(source.tree(cache), path, dest)


def _url_fs(url: str) -> tuple[Any, str]:
    import fsspec

    local = _local_path(url)
    if local is not None:
        return fsspec.filesystem("file"), str(local.resolve())
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise ImportSourceError(f"cannot read '{url}': {exc}") from exc


def _url_entry(url: str, hasher: Callable[[str], HashInfo]) -> dict[str, Any] | None:
    """The ``deps`` entry describing what ``url`` holds now: md5 for local data, else the store's etag;
    None for a store with no etag, whose data is then versioned by the md5 of the downloaded copy."""
    fs, fs_path = _url_fs(url)
    if not fs.exists(fs_path):
        raise ImportSourceError(f"'{url}' does not exist")
    if _local_path(url) is not None:
        return {**_out_entry(hasher(fs_path)), "path": url}
    info = fs.info(fs_path)
    etag = next((info[k] for k in ("ETag", "etag", "md5", "checksum") if info.get(k)), None)
    if etag is None:
        return None
    return {"etag": str(etag).strip('"'), "size": info.get("size"), "path": url}


def _download_url(url: str, dest: Path) -> None:
    fs, fs_path = _url_fs(url)
    if not fs.exists(fs_path):
        raise ImportSourceError(f"'{url}' does not exist")
    if fs.isdir(fs_path):
        fs.get(fs_path.rstrip("/") + "/", str(dest), recursive=True)
    else:
        fs.get(fs_path, str(dest))


# -- writing ------------------------------------------------------------------------------------------------


def _out_entry(info: HashInfo) -> dict[str, Any]:
    """An ``outs``/``deps`` hash entry in the key order DVC 3 writes in ``.dvc`` files."""
    entry: dict[str, Any] = {"md5": info.md5, "size": info.size}
    if info.isdir:
        entry["nfiles"] = info.nfiles
    elif info.isexec:
        entry["isexec"] = True
    entry["hash"] = "md5"
    return entry


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def _target(pipeline: Pipeline, cwd: Path, source_path: str, out: str | None) -> Path:
    """Where the import lands: ``out`` (inside it when it is a folder), else the source's name in ``cwd``."""
    name = posixpath.basename(source_path.rstrip("/")) or "data"
    target = (cwd / out).resolve() if out else cwd.resolve() / name
    if (
        out
        and (out.endswith(("/", os.sep)) or target.is_dir())
        and not (target.parent / (target.name + ".dvc")).exists()
    ):
        target = target / name
    try:
        target.relative_to(pipeline.root)
    except ValueError:
        raise ImportSourceError(f"'{out or name}' is outside the repository '{pipeline.root}'") from None
    return target


def _place(
    pipeline: Pipeline, target: Path, fill: Callable[[Path], None], *, recorded: str | None, force: bool
) -> HashInfo:
    """Download with ``fill`` into a temporary path beside ``target``, cache it, then swap it in.

    A ``target`` holding something other than what the ``.dvc`` file recorded (``recorded``: its md5) is
    the user's work and is only replaced with ``force``. Nothing in the workspace changes if ``fill`` fails.
    """
    rel = target.relative_to(pipeline.root).as_posix()
    if os.path.lexists(target) and not force:
        current = pipeline.hasher.hash(target).md5
        if current != recorded:
            what = "is not tracked by an import" if recorded is None else "was changed since it was imported"
            raise ImportSourceError(f"'{rel}' exists and {what}: use --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.import.tmp")
    _remove(tmp)
    try:
        fill(tmp)
        info = pipeline.hasher.hash(tmp)
        pipeline.cache.save(tmp, info)
        if info.md5 == recorded and os.path.lexists(target):
            return info  # the workspace holds it already
        _remove(target)
        os.replace(tmp, target)
    finally:
        _remove(tmp)
    return info


def _dvc_yaml(data: dict[str, Any]) -> str:
    """The text DVC's ruamel writer gives ``data``: it folds a long path or URL onto the next line at
    80 columns, so a frozen ``.dvc`` file is equal to dvc's whatever the path's length."""
    from ruamel.yaml import YAML

    writer = YAML()
    writer.default_flow_style = False
    stream = io.StringIO()
    writer.dump(data, stream)
    return stream.getvalue()


def _write_dvcfile(pipeline: Pipeline, target: Path, dep: dict[str, Any], info: HashInfo) -> str:
    dvcfile = target.with_name(target.name + ".dvc")
    data: dict[str, Any] = {
        "frozen": True,
        "deps": [dep],
        "outs": [{**_out_entry(info), "path": target.name}],
    }
    data = {"md5": stage_md5(data), **data}
    atomic_write_text(dvcfile, _dvc_yaml(data))
    rel = dvcfile.relative_to(pipeline.root).as_posix()
    pipeline.outputs.gitignore(build_data_stage(rel, data).outs)
    return rel


def _repo_dep(path: str, url: str, rev: str | None, sha: str) -> dict[str, Any]:
    repo: dict[str, Any] = {"url": url}
    if rev:
        repo["rev"] = rev
    repo["rev_lock"] = sha
    return {"path": path, "repo": repo}


def import_from_repo(
    pipeline: Pipeline,
    url: str,
    path: str,
    *,
    out: str | None,
    rev: str | None,
    cwd: Path,
    force: bool = False,
) -> str:
    """``import URL PATH``: copy PATH at ``rev`` of the Git repository ``url`` (from Git or its DVC cache or
    remote) into the workspace; returns the ``.dvc`` file written."""
    source = _SourceRepo(url, rev)
    target = _target(pipeline, cwd, path, out)
    pipeline.log(f"Importing '{path} ({url})' -> '{target.relative_to(pipeline.root).as_posix()}'")
    info = _place(
        pipeline,
        target,
        lambda dest: _download_from_repo(source, path, dest, pipeline.cache),
        recorded=None,
        force=force,
    )
    return _write_dvcfile(pipeline, target, _repo_dep(path, url, rev, source.sha), info)


def import_url(pipeline: Pipeline, url: str, *, out: str | None, cwd: Path, force: bool = False) -> str:
    """``import-url URL [OUT]``: copy what an fsspec URL (or local path) holds; returns the ``.dvc`` file."""
    name = url.rstrip("/").rsplit("/", 1)[-1]
    target = _target(pipeline, cwd, name, out)
    pipeline.log(f"Importing '{url}' -> '{target.relative_to(pipeline.root).as_posix()}'")
    dep = _url_entry(url, pipeline.hasher.hash)
    info = _place(pipeline, target, lambda dest: _download_url(url, dest), recorded=None, force=force)
    return _write_dvcfile(pipeline, target, dep or _content_entry(url, info), info)


def _content_entry(url: str, info: HashInfo) -> dict[str, Any]:
    return {**_out_entry(info), "path": url}


def _import_stage(pipeline: Pipeline, target: str, cwd: Path) -> Stage:
    full = (cwd / target).resolve()
    if not full.name.endswith(".dvc"):
        full = full.with_name(full.name + ".dvc")
    try:
        rel = full.relative_to(pipeline.root).as_posix()
    except ValueError:
        raise ImportSourceError(f"'{target}' is outside the repository '{pipeline.root}'") from None
    if not full.is_file():
        raise ImportSourceError(f"'{rel}' does not exist: `update` takes an import's .dvc file")
    stage = build_data_stage(rel, serialize.load_file(full, name=rel))
    if stage.import_source is None or len(stage.outs) != 1:
        raise ImportSourceError(
            f"'{rel}' is not an import (it has no 'deps' saying where its data came from)"
        )
    return stage


def update(pipeline: Pipeline, target: str, *, rev: str | None, cwd: Path, force: bool = False) -> bool:
    """``update TARGET``: import again from where ``TARGET.dvc`` says (``rev`` moves a repository import to
    another revision). Returns False when the source is unchanged (the file is then not rewritten)."""
    stage = _import_stage(pipeline, target, cwd)
    dep = dict(stage.import_source or {})
    out = stage.outs[0]
    full = pipeline.root / out.path
    recorded = out.options.get("md5")
    if "repo" in dep:
        repo = dep["repo"]
        source = _SourceRepo(repo["url"], rev or repo.get("rev"))
        new_dep = _repo_dep(dep["path"], repo["url"], rev or repo.get("rev"), source.sha)
        if new_dep == {"path": dep["path"], "repo": repo} and not pipeline.checker.changes(stage):
            pipeline.log(f"'{stage.dvcfile}' didn't change, skipping")
            return False
        pipeline.log(f"Importing '{dep['path']} ({repo['url']})' -> '{out.path}'")
        info = _place(
            pipeline,
            full,
            lambda d: _download_from_repo(source, dep["path"], d, pipeline.cache),
            recorded=recorded,
            force=force,
        )
    else:
        if rev:
            raise ImportSourceError(
                f"'{stage.dvcfile}' imports a URL: --rev applies to repository imports only"
            )
        new_dep = _url_entry(dep["path"], pipeline.hasher.hash)
        if new_dep == dep and not pipeline.checker.changes(stage):
            pipeline.log(f"'{stage.dvcfile}' didn't change, skipping")
            return False
        pipeline.log(f"Importing '{dep['path']}' -> '{out.path}'")
        info = _place(pipeline, full, lambda d: _download_url(dep["path"], d), recorded=recorded, force=force)
        if new_dep is None:  # no etag: the copy's md5 says whether it changed
            new_dep = _content_entry(dep["path"], info)
            if new_dep == dep:
                pipeline.log(f"'{stage.dvcfile}' didn't change, skipping")
                return False
    _write_dvcfile(pipeline, full, new_dep, info)
    return True


# -- status -------------------------------------------------------------------------------------------------


def source_status(pipeline: Pipeline, stage: Stage) -> dict[str, str]:
    """``changed deps`` of an import as ``dvc status`` reports them: a repository import whose source's
    ``rev`` (or HEAD) moved past ``rev_lock`` is "update available"; a frozen URL import's source is
    not checked (said with DVC's warning), an unfrozen one is "modified" or "deleted" when it changed."""
    dep = stage.import_source or {}
    repo = dep.get("repo")
    if isinstance(repo, dict):
        label = f"{dep.get('path')} ({repo.get('url')})"
        try:
            source = _SourceRepo(str(repo.get("url")), repo.get("rev"))
        except JupyterExpError as exc:
            pipeline.log(f"WARNING: cannot check '{stage.dvcfile}' for updates: {exc}")
            return {}
        return {label: "update available"} if source.sha != repo.get("rev_lock") else {}
    if stage.frozen:
        pipeline.log(
            f"WARNING: stage: '{stage.dvcfile}' is frozen. Its dependencies are not going to be shown in the status output."
        )
        return {}
    url = str(dep.get("path"))
    try:
        current = _url_entry(url, pipeline.hasher.hash)
    except ImportSourceError:
        return {url: "deleted"}
    if current is None:  # versioned by content: only `update` (which downloads) can tell
        return {}
    key = "md5" if "md5" in dep else "etag"
    return {url: "modified"} if current.get(key) != dep.get(key) else {}


# -- fetch --------------------------------------------------------------------------------------------------


def repo_imports(pipeline: Pipeline, stages: Iterable[str] | None = None) -> list[Stage]:
    """The workspace's repository imports (of ``stages``, when given): their data comes from their source,
    never from our data remote (``push`` leaves it out, ``fetch`` reads the source), as in DVC."""
    found = []
    for name, stage in pipeline.stages().items():
        source = stage.import_source
        if source is not None and isinstance(source.get("repo"), dict) and (stages is None or name in stages):
            found.append(stage)
    return found


def fetch_repo_imports(pipeline: Pipeline, stages: Iterable[Stage]) -> int:
    """Bring into the cache, from each import's source at its ``rev_lock``, the data the cache lacks;
    returns how many imports were fetched. The copy must hash to what the ``.dvc`` file records."""
    fetched = 0
    tmp_root = pipeline.root / ".dvc" / "tmp" / "imports"
    for stage in stages:
        out = stage.outs[0]
        recorded = HashInfo.from_lock_entry({**out.options, "path": out.def_path})
        if pipeline.cache.exists(recorded):
            continue
        dep = stage.import_source or {}
        source = _SourceRepo(dep["repo"]["url"], dep["repo"].get("rev_lock") or dep["repo"].get("rev"))
        tmp_root.mkdir(parents=True, exist_ok=True)
        tmp = tmp_root / f"{os.getpid()}-{posixpath.basename(out.path)}"
        _remove(tmp)
        try:
            _download_from_repo(source, dep["path"], tmp, pipeline.cache)
            info = pipeline.hasher.hash(tmp)
            if info.md5 != recorded.md5:
                raise ImportSourceError(
                    f"'{dep['path']}' of '{source.url}' at {source.sha[:7]} hashes to {info.md5}, not the "
                    f"{recorded.md5} '{stage.dvcfile}' records"
                )
            pipeline.cache.save(tmp, info)
        finally:
            _remove(tmp)
        fetched += 1
    return fetched
