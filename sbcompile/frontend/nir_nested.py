"""Nested NIR graphs inlined into one flat graph, as nirtorch's exporters flatten them: the inner
node `n` of a subgraph node `G` becomes `G.n`; an edge into `G` (or into its Input node `G.i`)
goes to what that Input feeds inside, an edge out of `G` (or its Output `G.o`) comes from what
feeds that Output. snnTorch's RLeaky/RSynaptic and Rockpool's recurrent CubaLIF are such
subgraphs (Input -> neuron <-> projection -> Output) in files that kept them nested."""

from __future__ import annotations

from typing import Any


def _kind(node: Any) -> str:
    return type(node).__name__


def flatten(graph: Any) -> Any:
    """The graph with every NIRGraph node (recursively) inlined; a graph without one unchanged."""
    import nir

    if not any(_kind(n) == "NIRGraph" for n in graph.nodes.values()):
        return graph
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    feeds: dict[str, dict[str, list[str]]] = {}  # subgraph -> its Input port -> inner targets
    fed_by: dict[str, dict[str, list[str]]] = {}  # subgraph -> its Output port -> inner sources
    for name, node in graph.nodes.items():
        if _kind(node) != "NIRGraph":
            nodes[name] = node
            continue
        inner = flatten(node)
        ports_in = {k for k, v in inner.nodes.items() if _kind(v) == "Input"}
        ports_out = {k for k, v in inner.nodes.items() if _kind(v) == "Output"}
        nodes.update({f"{name}.{k}": v for k, v in inner.nodes.items() if k not in ports_in | ports_out})
        feeds[name] = {p: [f"{name}.{b}" for a, b in inner.edges if a == p and b not in ports_out] for p in ports_in}
        fed_by[name] = {p: [f"{name}.{a}" for a, b in inner.edges if b == p and a not in ports_in] for p in ports_out}
        edges += [(f"{name}.{a}", f"{name}.{b}") for a, b in inner.edges if a not in ports_in and b not in ports_out]

    def ends(end: str, ports: dict[str, dict[str, list[str]]]) -> list[str]:
        if end in ports:  # the subgraph itself: all its ports of that side
            return [x for xs in ports[end].values() for x in xs]
        g, dot, port = end.partition(".")
        if dot and g in ports and port in ports[g]:
            return ports[g][port]
        return [end]

    for a, b in graph.edges:
        edges += [(s, t) for s in ends(a, fed_by) for t in ends(b, feeds)]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=dict(getattr(graph, "metadata", None) or {}), type_check=False)
