"""Text renderings of the stage graph: an ASCII tree for terminals, DOT and Mermaid for tools."""

from __future__ import annotations

from collections.abc import Sequence

from jupyter_exp.pipeline.dag import Graph


def _subgraph(graph: Graph, targets: Sequence[str]) -> list[str]:
    if not targets:
        return graph.order
    return graph.ordered(graph.closure(targets))


def _edges(graph: Graph, names: list[str]) -> list[tuple[str, str]]:
    keep = set(names)
    return [(up, name) for name in names for up in sorted(graph.upstream[name]) if up in keep]


def render_dot(graph: Graph, targets: Sequence[str] = ()) -> str:
    names = _subgraph(graph, targets)
    lines = ["strict digraph {"]
    lines += [f'\t"{name}";' for name in names]
    lines += [f'\t"{up}" -> "{down}";' for up, down in _edges(graph, names)]
    lines.append("}")
    return "\n".join(lines)


def render_mermaid(graph: Graph, targets: Sequence[str] = ()) -> str:
    names = _subgraph(graph, targets)
    ids = {name: f"node{i}" for i, name in enumerate(names, 1)}
    lines = ["flowchart TD"]
    lines += [f'\t{ids[name]}["{name}"]' for name in names]
    lines += [f"\t{ids[up]}-->{ids[down]}" for up, down in _edges(graph, names)]
    return "\n".join(lines)


def render_ascii(graph: Graph, targets: Sequence[str] = ()) -> str:
    """One line per stage in run order, each with the stages it waits for: readable at any size."""
    names = _subgraph(graph, targets)
    if not names:
        return "No stages."
    depth: dict[str, int] = {}
    for name in names:
        ups = [depth[u] for u in graph.upstream[name] if u in depth]
        depth[name] = 1 + max(ups) if ups else 0
    lines = []
    for name in names:
        ups = sorted(u for u in graph.upstream[name] if u in depth)
        arrow = f"  <- {', '.join(ups)}" if ups else ""
        lines.append(f"{'    ' * depth[name]}+-- {name}{arrow}")
    return "\n".join(lines)
