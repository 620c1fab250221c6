"""Chip assignment: which chip each core goes to, so that as little traffic as possible crosses
chips. Cores are first packed onto chips in dataflow order; the (op, chip) pieces that packing
makes are then moved between chips by recursive bisection, each cut refined with networkx's
Kernighan-Lin, on a graph whose edges say what two pieces would cost if they sat on different
chips (a coarsened graph: a multilevel scheme's top levels)."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from .mapping import Partitioning
from .traffic import Link


@dataclass(frozen=True)
class Piece:
    """The cores of one op on one chip of the initial packing."""

    op: str
    cores: tuple[int, ...]

    @property
    def size(self) -> int:
        return len(self.cores)


def pieces(part: Partitioning, per_chip: int) -> list[Piece]:
    """Dataflow-order packing (core i on chip i // per_chip), cut into (op, chip) pieces."""
    out = []
    for name, t in part.core_ops.items():
        cores = range(t.first, t.first + t.count)
        for chip in sorted({c // per_chip for c in cores}):
            out.append(Piece(name, tuple(c for c in cores if c // per_chip == chip)))
    return out


def piece_graph(items: list[Piece], links: list[Link], where: dict[str, str]) -> nx.Graph:
    """Edge weights: channels two pieces exchange directly (core to core), and, for each embedded
    op, a clique over the pieces it talks to, each pair weighted by their mean channels over the
    clique's other members (a broadcast or a merge crosses once per extra chip)."""
    at = {c: i for i, p in enumerate(items) for c in p.cores}
    g = nx.Graph()
    g.add_nodes_from(range(len(items)))
    hub: dict[str, dict[int, float]] = {}
    for ln in links:
        if ln.src is not None and ln.dst is not None:
            a, b = at[ln.src], at[ln.dst]
            if a != b:
                w = g.get_edge_data(a, b, {"weight": 0.0})["weight"]
                g.add_edge(a, b, weight=w + ln.channels)
            continue
        proc, core = (ln.producer, ln.dst) if ln.dst is not None else (ln.consumer, ln.src)
        if core is not None and where.get(proc) == "embedded":
            h = hub.setdefault(proc, {})
            h[at[core]] = h.get(at[core], 0.0) + ln.channels
    for members in hub.values():
        ids = sorted(members)
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                w = (members[a] + members[b]) / (2 * (len(ids) - 1))
                g.add_edge(a, b, weight=g.get_edge_data(a, b, {"weight": 0.0})["weight"] + w)
    return g


def _greedy(ids: list[int], items: list[Piece], cap_first: int) -> tuple[set[int], set[int]]:
    first: set[int] = set()
    used = 0
    for i in ids:
        if used + items[i].size <= cap_first:
            first.add(i)
            used += items[i].size
    return first, set(ids) - first


def _fits(side: set[int], items: list[Piece], cap: int) -> bool:
    return sum(items[i].size for i in side) <= cap


def _split(g: nx.Graph, ids: list[int], items: list[Piece], chips: list[int], per_chip: int,
           seed: int) -> dict[int, int] | None:
    if not ids:
        return {}
    if len(chips) == 1:
        return {i: chips[0] for i in ids} if _fits(set(ids), items, per_chip) else None
    left, right = chips[: len(chips) // 2], chips[len(chips) // 2:]
    a0, b0 = _greedy(ids, items, len(left) * per_chip)
    tries = []
    if a0 and b0 and _fits(b0, items, len(right) * per_chip):
        sub = g.subgraph(ids)
        a1, b1 = nx.algorithms.community.kernighan_lin_bisection(sub, (a0, b0), max_iter=8, weight="weight", seed=seed)
        if (nx.cut_size(sub, a1, b1, weight="weight") < nx.cut_size(sub, a0, b0, weight="weight")
                and _fits(a1, items, len(left) * per_chip) and _fits(b1, items, len(right) * per_chip)):
            tries.append((a1, b1))
    tries.append((a0, b0))
    for a, b in tries:
        got_a = _split(g, sorted(a), items, left, per_chip, seed)
        got_b = _split(g, sorted(b), items, right, per_chip, seed) if got_a is not None else None
        if got_a is not None and got_b is not None:
            return {**got_a, **got_b}
    return None


def assign_chips(part: Partitioning, links: list[Link], per_chip: int, seed: int = 0) -> tuple[np.ndarray, float, float]:
    """Chip of every core, and the piece graph's cut before and after refinement."""
    items = pieces(part, per_chip)
    chip_of = np.arange(part.cores, dtype=np.int64) // per_chip
    if not items:
        return chip_of, 0.0, 0.0
    g = piece_graph(items, links, part.where)
    n_chips = -(-part.cores // per_chip)
    initial = {i: items[i].cores[0] // per_chip for i in range(len(items))}
    got = _split(g, list(range(len(items))), items, list(range(n_chips)), per_chip, seed) or initial

    def cut(assign: dict[int, int]) -> float:
        return float(sum(d["weight"] for a, b, d in g.edges(data=True) if assign[a] != assign[b]))

    before, after = cut(initial), cut(got)
    if after > before:  # refinement never makes it worse
        got, after = initial, before
    for i, c in got.items():
        chip_of[list(items[i].cores)] = c
    return chip_of, before, after
