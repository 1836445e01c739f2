"""The stage graph: edges from outputs to the deps that read them, ordering, and its invariants."""

from __future__ import annotations

import bisect
import posixpath
from collections.abc import Iterable

from jupyter_exp.errors import PipelineError
from jupyter_exp.pipeline.stage import Stage


def _ancestors(path: str) -> Iterable[str]:
    while True:
        parent = posixpath.dirname(path)
        if not parent or parent == path:  # "" for relative paths, "/" would repeat forever
            return
        path = parent
        yield path


def _is_under(path: str, parent: str) -> bool:
    return path.startswith(parent + "/")


class Graph:
    """Stages keyed by their addressing name, with ``upstream[name]`` = the stages it depends on."""

    def __init__(self, stages: Iterable[Stage]) -> None:
        self.stages: dict[str, Stage] = {}
        for stage in stages:
            self.stages[stage.addressing] = stage
        self.owner = self._index_outputs()
        self.upstream: dict[str, set[str]] = {name: set() for name in self.stages}
        self.downstream: dict[str, set[str]] = {name: set() for name in self.stages}
        self._link()
        self.order = self._toposort()

    def _index_outputs(self) -> dict[str, str]:
        owner: dict[str, str] = {}
        for name, stage in self.stages.items():
            for out in stage.outs:
                other = owner.get(out.path)
                if other is not None:
                    if other == name:
                        raise PipelineError(f"output '{out.path}' is declared twice in stage {stage}")
                    raise PipelineError(
                        f"output '{out.path}' is already specified in stage: '{other}' "
                        f"(and again in '{name}'); an output can only be produced by one stage"
                    )
                owner[out.path] = name
        paths = sorted(owner)
        for path in paths:
            for parent in _ancestors(path):
                if parent in owner:
                    raise PipelineError(
                        f"the output paths overlap: '{parent}' of stage '{owner[parent]}' contains "
                        f"'{path}' of stage '{owner[path]}'"
                    )
        self._sorted_outs = paths
        return owner

    def _producers(self, dep: str) -> set[str]:
        found = set()
        if dep in self.owner:
            found.add(self.owner[dep])
        for parent in _ancestors(dep):
            if parent in self.owner:
                found.add(self.owner[parent])
        start = bisect.bisect_right(self._sorted_outs, dep + "/")
        for path in self._sorted_outs[start:]:
            if not _is_under(path, dep):
                break
            found.add(self.owner[path])
        return found

    def _link(self) -> None:
        for name, stage in self.stages.items():
            paths = [d.path for d in stage.deps] + [p.path for p in stage.params]
            for dep in paths:
                for producer in self._producers(dep):
                    if producer == name:
                        raise PipelineError(f"stage '{name}' depends on its own output '{dep}'")
                    self.upstream[name].add(producer)
                    self.downstream[producer].add(name)

    def _toposort(self) -> list[str]:
        """Each stage after the stages it needs, otherwise in declaration order, as DVC plans a repro
        (depth-first, upstream first). A cycle is an error naming the stages on it."""
        index = {name: i for i, name in enumerate(self.stages)}
        order: list[str] = []
        done: set[str] = set()
        for start in self.stages:
            if start in done:
                continue
            path = [start]  # the stages being visited, each waiting for the next
            on_path = {start}
            pending = [iter(sorted(self.upstream[start], key=index.__getitem__))]
            while path:
                for up in pending[-1]:
                    if up in on_path:
                        cycle = path[path.index(up):]
                        raise PipelineError(
                            "pipeline has a cycle involving: " + ", ".join(f"'{n}'" for n in cycle)
                        )
                    if up not in done:
                        path.append(up)
                        on_path.add(up)
                        pending.append(iter(sorted(self.upstream[up], key=index.__getitem__)))
                        break
                else:
                    name = path.pop()
                    on_path.discard(name)
                    done.add(name)
                    order.append(name)
                    pending.pop()
        return order

    def closure(self, names: Iterable[str], *, downstream: bool = False) -> set[str]:
        """``names`` plus everything upstream of them (or downstream, with ``downstream=True``)."""
        edges = self.downstream if downstream else self.upstream
        seen: set[str] = set()
        todo = list(names)
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(edges[name])
        return seen

    def ordered(self, names: Iterable[str]) -> list[str]:
        wanted = set(names)
        return [name for name in self.order if name in wanted]
