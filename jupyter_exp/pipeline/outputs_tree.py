"""A revision as the user sees it: its Git files plus the cached outputs its ``dvc.lock`` records.

Cached outputs (models, live logs, metrics with ``cache: true``) are git-ignored, so a commit alone does not
hold them. :class:`OutputsTree` fills them in from the cache through the lock entries of that revision,
which is what lets ``metrics diff``, ``plots diff`` and ``exp show`` read any revision without a checkout.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from jupyter_exp import serialize
from jupyter_exp.data.cache import Cache
from jupyter_exp.data.hashing import HashInfo
from jupyter_exp.errors import JupyterExpError
from jupyter_exp.fsutil import TreeReader
from jupyter_exp.pipeline import lock as lockfile
from jupyter_exp.pipeline.stage import build_data_stage, build_stage
from jupyter_exp.pipeline.templating import resolve

if TYPE_CHECKING:
    from jupyter_exp.scm.git import GitTree


class OutputsTree:
    """:class:`~jupyter_exp.fsutil.TreeReader` over ``base`` plus the outputs recorded in its lock files.

    ``dvcfiles`` lists the revision's ``dvc.yaml`` and ``.dvc`` files. Reading a file that Git holds
    costs nothing extra; a path Git lacks is first looked up in the files that usually record it (the
    ``dvc.yaml`` of its folder and each folder above, ``<ancestor>.dvc``), and only when they do not
    is ``dvcfiles`` called (once) to search every one: ``exp show`` over many commits stays cheap.
    """

    def __init__(self, base: TreeReader, cache: Cache, dvcfiles: Callable[[], Iterable[str]]) -> None:
        self.base = base
        self.cache = cache
        self._dvcfiles = dvcfiles
        self._outputs: dict[str, HashInfo] | None = None
        self._by_file: dict[str, dict[str, HashInfo]] = {}
        self._manifests: dict[str, dict[str, str]] = {}

    def _read(self, dvcfile: str) -> dict[str, HashInfo]:
        if dvcfile not in self._by_file:
            try:
                self._by_file[dvcfile] = self._outputs_of(dvcfile)
            except (JupyterExpError, OSError, KeyError, ValueError):
                self._by_file[
                    dvcfile
                ] = {}  # a broken dvc file at an old revision hides its outputs, nothing more
        return self._by_file[dvcfile]

    def _recorded(self) -> dict[str, HashInfo]:
        if self._outputs is None:
            self._outputs = {}
            for dvcfile in self._dvcfiles():
                self._outputs.update(self._read(dvcfile))
        return self._outputs

    def _nearby(self, path: str) -> dict[str, HashInfo]:
        """Outputs recorded where a path's output usually is: ``dvc.yaml`` files of its folders, ``.dvc``
        files beside its ancestors."""
        parts = path.split("/")
        folders = ["/".join(parts[:i]) for i in range(len(parts))]
        candidates = [posixpath.join(f, "dvc.yaml") for f in folders]
        candidates += ["/".join(parts[:i]) + ".dvc" for i in range(1, len(parts) + 1)]
        found: dict[str, HashInfo] = {}
        for dvcfile in candidates:
            if self.base.exists(dvcfile):
                found.update(self._read(dvcfile))
        return found

    def _outputs_of(self, dvcfile: str) -> dict[str, HashInfo]:
        found: dict[str, HashInfo] = {}
        if dvcfile.endswith(".dvc"):
            stage = build_data_stage(dvcfile, serialize.load_from(self.base, dvcfile))
            for out in stage.outs:
                found[out.path] = HashInfo.from_lock_entry({**out.options, "path": out.def_path})
            return found
        lock_path = posixpath.join(posixpath.dirname(dvcfile), "dvc.lock")
        if not self.base.exists(lock_path):
            return found
        entries = lockfile.load_text(self.base.read_bytes(lock_path).decode("utf-8"), lock_path)
        for name, definition in resolve(self.base, dvcfile).stages.items():
            recorded = {o.get("path"): o for o in (entries.get(name) or {}).get("outs") or []}
            for out in build_stage(name, definition, dvcfile).outs:
                entry = recorded.get(out.def_path)
                if entry and entry.get("md5"):
                    found[out.path] = HashInfo.from_lock_entry(entry)
        return found

    def _locate(self, path: str) -> tuple[str, HashInfo, str] | None:
        """(output path, its hash, path inside it) for a path at or under a recorded output."""
        path = posixpath.normpath(path)
        if path in ("", "."):
            return None
        return _containing(self._nearby(path), path) or _containing(self._recorded(), path)

    def output_hash(self, path: str) -> HashInfo | None:
        """The recorded hash of the output at or above ``path`` (what to fetch when the cache lacks it)."""
        located = self._locate(path)
        return located[1] if located is not None else None

    def _manifest(self, info: HashInfo) -> dict[str, str]:
        if info.md5 not in self._manifests:
            self._manifests[info.md5] = {e.relpath: e.md5 for e in self.cache.load_dir_manifest(info.md5)}
        return self._manifests[info.md5]

    def _cached_file(self, path: str) -> str | None:
        """md5 of the cached file at ``path``, or None."""
        located = self._locate(path)
        if located is None:
            return None
        _, info, inner = located
        if not info.isdir:
            return info.md5 if not inner else None
        if not self.cache.exists(info):
            return None
        return self._manifest(info).get(inner)

    def read_bytes(self, path: str) -> bytes:
        if self.base.exists(path) and not self.base.isdir(path):
            return self.base.read_bytes(path)
        md5 = self._cached_file(path)
        if md5 is None or not self.cache.object_path(md5).is_file():
            raise FileNotFoundError(f"'{path}' is neither in Git nor in the cache at this revision")
        return self.cache.object_path(md5).read_bytes()

    def exists(self, path: str) -> bool:
        return self.base.exists(path) or self._cached_file(path) is not None or self.isdir(path)

    def isdir(self, path: str) -> bool:
        if self.base.isdir(path):
            return True
        if self.base.exists(path):  # a file in Git
            return False
        located = self._locate(path)
        if located is None:
            return False
        _, info, inner = located
        if not info.isdir or not self.cache.exists(info):
            return False
        prefix = inner + "/" if inner else ""
        return any(rel.startswith(prefix) for rel in self._manifest(info))

    def listdir(self, path: str) -> list[str]:
        names = set(self.base.listdir(path)) if self.base.isdir(path) else set()
        path = posixpath.normpath(path)
        located = self._locate(path)
        if located is not None and located[1].isdir and self.cache.exists(located[1]):
            prefix = located[2] + "/" if located[2] else ""
            names.update(
                rel[len(prefix) :].split("/", 1)[0]
                for rel in self._manifest(located[1])
                if rel.startswith(prefix)
            )
        root = "" if path == "." else path + "/"
        for output in self._recorded():
            if output.startswith(root) and output != path:
                names.add(output[len(root) :].split("/", 1)[0])
        if not names and not self.isdir(path):
            raise NotADirectoryError(f"'{path}' is not a directory at this revision")
        return sorted(names)


def _containing(outputs: dict[str, HashInfo], path: str) -> tuple[str, HashInfo, str] | None:
    probe = path
    while probe and probe != ".":
        if probe in outputs:
            return probe, outputs[probe], "" if probe == path else path[len(probe) + 1 :]
        probe = posixpath.dirname(probe)
    return None


def revision_tree(tree: GitTree, cache: Cache) -> OutputsTree:
    """A commit as the user sees it: its Git tree plus the outputs its ``dvc.lock``/``.dvc`` files record
    in ``cache``. ``Repo.tree``, ``exp show`` and ``import`` all read revisions through this."""

    def dvcfiles() -> list[str]:
        return [
            p
            for p, _, _ in tree.walk_files()
            if p.endswith(("dvc.yaml", ".dvc")) and not p.startswith(".dvc/")
        ]

    return OutputsTree(tree, cache, dvcfiles)
