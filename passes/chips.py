"""Chip assignment: which chip each core goes to, so that as little traffic as possible crosses
chips. Cores are first packed onto chips in dataflow order, cut into pieces of half a chip; the
pieces are then moved between chips by recursive bisection, each cut refined with networkx's
Kernighan-Lin, and the better of that and the packing is refined chip pair by chip pair with
Kernighan-Lin again (a k-way refinement), all on a graph whose edges say what two pieces would
cost if they sat on different chips (a coarsened graph: a multilevel scheme's top levels)."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from .mapping import Partitioning
from .traffic import Link, union


@dataclass(frozen=True)
class Piece:
    """A run of consecutive cores of the initial packing, half a chip (or a whole odd chip)."""

    cores: tuple[int, ...]

    @property
    def size(self) -> int:
        return len(self.cores)


def pieces(part: Partitioning, per_chip: int) -> list[Piece]:
    """Dataflow-order packing (core i on chip i // per_chip) cut into equal runs of half a chip:
    pieces of one size let Kernighan-Lin's pairwise swaps keep every chip within its cores."""
    unit = per_chip // 2 if per_chip % 2 == 0 else per_chip
    return [Piece(tuple(range(first, min(first + unit, part.cores)))) for first in range(0, part.cores, unit)]


def piece_graph(items: list[Piece], links: list[Link], where: dict[str, str]) -> nx.Graph:
    """Edge weights: channels two pieces exchange directly (core to core), and, for each embedded
    op, a clique over the pieces it talks to, each pair weighted by the mean of the channels the
    two exchange with it over the clique's other members (its broadcast or merge crosses to a
    chip once per chip, whatever the number of tiles there)."""
    at = {c: i for i, p in enumerate(items) for c in p.cores}
    g = nx.Graph()
    g.add_nodes_from(range(len(items)))
    hub: dict[str, dict[int, list[tuple[int, int]]]] = {}
    for ln in links:
        if ln.src is not None and ln.dst is not None:
            a, b = at[ln.src], at[ln.dst]
            if a != b:
                g.add_edge(a, b, weight=g.get_edge_data(a, b, {"weight": 0.0})["weight"] + ln.channels)
            continue
        proc, core = (ln.producer, ln.dst) if ln.dst is not None else (ln.consumer, ln.src)
        if core is not None and where.get(proc) == "embedded":
            hub.setdefault(proc, {}).setdefault(at[core], []).append((ln.lo, ln.hi))
    for members in hub.values():
        width = {i: union(r) for i, r in members.items()}
        ids = sorted(width)
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                w = (width[a] + width[b]) / (2 * (len(ids) - 1))
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


def _incident_cut(g: nx.Graph, nodes: set[int], assign: dict[int, int]) -> float:
    """Weight of the cut edges that touch `nodes` (each counted once)."""
    seen = 0.0
    for a in nodes:
        for b, d in g[a].items():
            if assign[a] != assign[b] and (b not in nodes or a < b):
                seen += d["weight"]
    return seen


def refine_pairs(g: nx.Graph, items: list[Piece], assign: dict[int, int], per_chip: int, seed: int,
                 passes: int = 2) -> dict[int, int]:
    """k-way refinement: for every two chips joined by cut edges, Kernighan-Lin on their pieces;
    a result is kept when it fits both chips and lowers the cut around those pieces."""
    assign = dict(assign)
    for _ in range(passes):
        improved = False
        pairs = sorted({tuple(sorted((assign[a], assign[b]))) for a, b in g.edges if assign[a] != assign[b]})
        for ca, cb in pairs:
            side_a = {i for i, c in assign.items() if c == ca}
            side_b = {i for i, c in assign.items() if c == cb}
            both = side_a | side_b
            new_a, new_b = nx.algorithms.community.kernighan_lin_bisection(
                g.subgraph(both), (side_a, side_b), max_iter=4, weight="weight", seed=seed)
            if not (_fits(set(new_a), items, per_chip) and _fits(set(new_b), items, per_chip)):
                continue
            trial = {**assign, **{i: ca for i in new_a}, **{i: cb for i in new_b}}
            if _incident_cut(g, both, trial) < _incident_cut(g, both, assign) - 1e-9:
                assign, improved = trial, True
        if not improved:
            break
    return assign


def assign_chips(part: Partitioning, links: list[Link], per_chip: int, seed: int = 0) -> tuple[np.ndarray, float, float]:
    """Chip of every core, and the piece graph's cut before and after refinement."""
    items = pieces(part, per_chip)
    chip_of = np.arange(part.cores, dtype=np.int64) // per_chip
    if not items:
        return chip_of, 0.0, 0.0
    g = piece_graph(items, links, part.where)
    n_chips = -(-part.cores // per_chip)
    initial = {i: items[i].cores[0] // per_chip for i in range(len(items))}

    def cut(assign: dict[int, int]) -> float:
        return float(sum(d["weight"] for a, b, d in g.edges(data=True) if assign[a] != assign[b]))

    bisected = _split(g, list(range(len(items))), items, list(range(n_chips)), per_chip, seed) or initial
    start = bisected if cut(bisected) < cut(initial) else initial
    got = refine_pairs(g, items, start, per_chip, seed)
    before, after = cut(initial), cut(got)
    if after > before:  # refinement never makes it worse
        got, after = initial, before
    for i, c in got.items():
        chip_of[list(items[i].cores)] = c
    return chip_of, before, after
