"""Moving Git objects and refs between repositories: to and from Git remotes (push/fetch of experiment
refs), and as bytes for a Dask worker's private repository.

Part of :class:`~jupyter_exp.scm.git.Git`; fetching uses its ``get_ref``, ``set_ref`` and ``is_ancestor``.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from jupyter_exp.errors import SCMError
from jupyter_exp.scm.trees import is_gitlink

if TYPE_CHECKING:
    from dulwich.repo import Repo as DulwichRepo


class Transfer:
    """Objects and refs in and out of this repository."""

    repo: DulwichRepo

    def export_objects(self, commits: Iterable[str], *, exclude: Iterable[str] = ()) -> bytes:
        """The ``commits`` with their trees and blobs (not their parents), as bytes for
        :meth:`import_objects` in another repository: how a Dask task carries its Git objects.

        Objects in ``exclude`` are left out, and so is everything under an excluded tree (the other side
        has it). The format, ``<type> <size>\\n<raw>`` records compressed, is dulwich-version independent.
        """
        store = self.repo.object_store
        seen = {sha.encode() for sha in exclude}
        out = bytearray()
        todo = [sha.encode() for sha in commits]
        while todo:
            obj_id = todo.pop()
            if obj_id in seen:
                continue
            seen.add(obj_id)
            obj = store[obj_id]
            raw = obj.as_raw_string()
            out += b"%d %d\n" % (obj.type_num, len(raw))
            out += raw
            if obj.type_name == b"commit":
                todo.append(obj.tree)
            elif obj.type_name == b"tree":
                todo.extend(item.sha for item in obj.iteritems() if not is_gitlink(item.mode))
        return zlib.compress(bytes(out), 1)

    def import_objects(self, data: bytes) -> list[str]:
        """Store the objects :meth:`export_objects` wrote (those missing, in one pack); returns every sha."""
        from dulwich.objects import ShaFile

        raw = zlib.decompress(data)
        objects = []
        pos = 0
        while pos < len(raw):
            end = raw.index(b"\n", pos)
            type_num, size = (int(part) for part in raw[pos:end].split())
            objects.append(ShaFile.from_raw_string(type_num, raw[end + 1 : end + 1 + size]))
            pos = end + 1 + size
        store = self.repo.object_store
        new = [(obj, None) for obj in objects if obj.id not in store]
        if new:
            store.add_objects(new)
        return [obj.id.decode() for obj in objects]

    def _remote_url(self, remote: str) -> str:
        config = self.repo.get_config()
        try:
            return config.get((b"remote", remote.encode()), b"url").decode()
        except KeyError:
            return remote

    def remote_refs(self, remote: str, prefix: str = "refs/") -> dict[str, str]:
        """Refs under ``prefix`` on a Git remote (name from .git/config, path or URL)."""
        from dulwich.client import get_transport_and_path

        client, path = get_transport_and_path(self._remote_url(remote), config=self.repo.get_config_stack())
        refs = client.get_refs(path)
        refs = getattr(refs, "refs", refs)
        return {
            k.decode(): v.decode() for k, v in refs.items() if k.decode().startswith(prefix) and v is not None
        }

    def push_refs(
        self, remote: str, refs: Iterable[str], *, force: bool = False, delete: bool = False
    ) -> None:
        """Push (or delete with ``delete``) the given refs to the same names on ``remote``."""
        from dulwich import porcelain

        specs = [f":{ref}" if delete else f"{'+' if force else ''}{ref}:{ref}" for ref in refs]
        if not specs:
            return
        err = io.BytesIO()
        try:
            porcelain.push(
                self.repo, self._remote_url(remote), specs, outstream=io.BytesIO(), errstream=err, force=force
            )
        except Exception as exc:
            detail = err.getvalue().decode("utf-8", "replace").strip()
            raise SCMError(f"Pushing to Git remote '{remote}' failed: {exc} {detail}".strip()) from exc

    def fetch_refs(
        self, remote: str, select: Callable[[str], bool], *, force: bool = False
    ) -> dict[str, str]:
        """Fetch the remote refs for which ``select(ref)`` is true into the same local names."""
        from dulwich.client import get_transport_and_path

        client, path = get_transport_and_path(self._remote_url(remote), config=self.repo.get_config_stack())
        chosen: dict[str, str] = {}

        def determine_wants(remote_refs: dict[bytes, bytes | None], depth: int | None = None) -> list[bytes]:
            for name, sha in remote_refs.items():
                if sha is not None and select(name.decode()):
                    chosen[name.decode()] = sha.decode()
            return [
                sha.encode() for sha in set(chosen.values()) if sha.encode() not in self.repo.object_store
            ]

        try:
            client.fetch(path, self.repo, determine_wants=determine_wants)
        except Exception as exc:
            raise SCMError(f"Fetching from Git remote '{remote}' failed: {exc}") from exc
        for ref, sha in chosen.items():
            old = self.get_ref(ref)
            if old == sha:
                continue
            if old and not force and not self.is_ancestor(old, sha):
                raise SCMError(f"Git ref '{ref}' differs locally and on '{remote}'; use force to replace it")
            self.set_ref(ref, sha)
        return chosen
