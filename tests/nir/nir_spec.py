"""A NIR graph simulated straight from the spec, written for the tests (independent of sbcompile's
import): every node's equation per time step in float32, forward Euler with dt, fan-in summed,
and a cycle cut by one step of delay on the edges that leave a neuron into its own cycle (the
neuron's output at t-1, zero before the first step). Reset: to v_reset, or by subtracting
v_threshold where `subtract` names the node (files before NIR 1.0.6)."""

from __future__ import annotations

import numpy as np

NEURONS = ("IF", "LIF", "CubaLIF", "LI", "CubaLI", "I")


def _delayed_edges(graph) -> set[tuple[str, str]]:
    """Edges out of a neuron that come back to it (each such edge closes a cycle)."""
    succ: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for a, b in graph.edges:
        succ[a].append(b)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            n = todo.pop()
            if n == goal:
                return True
            if n not in seen:
                seen.add(n)
                todo.extend(succ[n])
        return False

    return {(a, b) for a, b in graph.edges if type(graph.nodes[a]).__name__ in NEURONS and reaches(b, a)}


def simulate(graph, inputs: dict[str, np.ndarray], dt: float, subtract: frozenset[str] = frozenset()) -> dict[str, np.ndarray]:
    """Output node name -> [T, *shape] values (spikes as 0/1)."""
    f = np.float32
    delayed = _delayed_edges(graph)
    live = [(a, b) for a, b in graph.edges if (a, b) not in delayed]
    order, placed = [], set()
    while len(order) < len(graph.nodes):
        for n in graph.nodes:
            if n not in placed and all(a in placed for a, b in live if b == n):
                order.append(n)
                placed.add(n)
    steps = next(iter(inputs.values())).shape[0]
    prev: dict[str, np.ndarray] = {}
    state: dict[str, dict[str, np.ndarray]] = {}
    outs: dict[str, list[np.ndarray]] = {}
    for t in range(steps):
        now: dict[str, np.ndarray] = {}
        for n in order:
            node = graph.nodes[n]
            kind = type(node).__name__
            if kind == "Input":
                now[n] = inputs[n][t].astype(f)
                continue
            total = None
            for a, b in [e for e in live if e[1] == n] + [e for e in delayed if e[1] == n]:
                x = now[a] if (a, b) in live else prev.get(a, np.zeros(np.shape(graph.nodes[a].r), f))
                total = x if total is None else total + x
            now[n] = _node(kind, node, total, state.setdefault(n, {}), f(dt), n in subtract)
            if kind == "Output":
                outs.setdefault(n, []).append(now[n])
        prev = {n: v.copy() for n, v in now.items()}
    return {n: np.stack(v) for n, v in outs.items()}


def _node(kind, node, x, st, dt, subtract):
    f = np.float32
    a = lambda name: np.asarray(getattr(node, name), f)  # noqa: E731
    if kind == "Output":
        return x
    if kind == "Affine":
        return a("weight") @ x + a("bias")
    if kind == "Linear":
        return a("weight") @ x
    if kind == "Scale":
        return a("scale") * x
    if kind == "Threshold":
        return (x > a("threshold")).astype(f)
    v = st.get("v", np.zeros(x.shape, f))
    if kind in ("CubaLIF", "CubaLI"):
        i = st.get("i", np.zeros(x.shape, f))
        i = i + (dt / a("tau_syn")) * (a("w_in") * x - i)
        st["i"] = i
        v = v + (dt / a("tau_mem")) * ((a("v_leak") - v) + a("r") * i)
    elif kind in ("LIF", "LI"):
        v = v + (dt / a("tau")) * ((a("v_leak") - v) + a("r") * x)
    else:  # IF, I
        v = v + dt * a("r") * x
    if kind in ("LI", "CubaLI", "I"):
        st["v"] = v
        return v
    z = v > a("v_threshold")
    st["v"] = np.where(z, v - a("v_threshold") if subtract else a("v_reset"), v).astype(f)
    return z.astype(f)
