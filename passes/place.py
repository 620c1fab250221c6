"""Place: partitioned cores onto chips and mesh positions, minimising hop-weighted spike traffic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sbcompile.ir import Module, SbirError

from .base import Pass, PassContext, option
from .registry import register_pass
from .traffic import TrafficGraph, traffic_graph
from .report import per_unit


def hilbert_order(cols: int, rows: int) -> list[tuple[int, int]]:
    """Cells of a cols x rows grid along a Hilbert curve (over the enclosing power-of-two square,
    cells outside the grid skipped): consecutive cells stay close in both directions."""
    n = 1
    while n < max(cols, rows):
        n *= 2
    cells = []
    for d in range(n * n):
        x = y = 0
        t, s = d, 1
        while s < n:
            rx = 1 & (t // 2)
            ry = 1 & (t ^ rx)
            if ry == 0:
                if rx == 1:
                    x, y = s - 1 - x, s - 1 - y
                x, y = y, x
            x, y = x + s * rx, y + s * ry
            t //= 4
            s *= 2
        if x < cols and y < rows:
            cells.append((x, y))
    return cells


def grid_positions(system: Any, order: str) -> np.ndarray:
    """(x, y) of every core slot of the system, in slot order, chip by chip. `rows`: chips and
    cores row-major (the naive order); `hilbert`: chips along a Hilbert curve, so that a run of
    consecutive chips covers a compact area, and inside each chip column by column (serpentine)
    from the west edge, where the embedded processors attach."""
    cols, rows = system.chip.mesh
    per_chip = system.chip.cores_per_chip
    cx_n, cy_n = system.chip_mesh
    if order == "hilbert":  # chips along a Hilbert curve; inside a chip, columns from the west edge
        chips = hilbert_order(cx_n, cy_n)
        local = [(x, y if x % 2 == 0 else rows - 1 - y) for x in range(cols) for y in range(rows)]
    else:
        chips = [(cx, cy) for cy in range(cy_n) for cx in range(cx_n)]
        local = [(x, y) for y in range(rows) for x in range(cols)]
    chips, local = chips[: system.chips], local[:per_chip]
    pos = [(cx * cols + x, cy * rows + y) for cx, cy in chips for x, y in local]
    return np.array(pos, np.int64)


def embedded_positions(system: Any) -> np.ndarray:
    """Where the embedded processors attach to the mesh: an assumption (Intel publishes no floor
    plan) of `embedded_processors` evenly spread along each chip's west edge, in chip order."""
    cols, rows = system.chip.mesh
    e = max(system.chip.embedded_processors, 1)
    ys = [round(i * (rows - 1) / max(e - 1, 1)) for i in range(e)]
    cx_n = system.chip_mesh[0]
    return np.array([((c % cx_n) * cols, (c // cx_n) * rows + y) for c in range(system.chips) for y in ys], np.int64)


def place_hubs(g: TrafficGraph, pos: np.ndarray, hubs_at: np.ndarray) -> None:
    """Each hub (an op on an embedded processor) to the embedded processor nearest the weighted
    median of the cores it talks to: the median minimises the L1 traffic cost."""
    for h in g.hubs:
        nbrs, w = g.neighbours(h)
        nbrs = nbrs[~g.is_hub[nbrs]] if len(nbrs) else nbrs
        if len(nbrs) == 0:
            continue
        ww = g.weight_to(h, nbrs)
        median = [_weighted_median(pos[nbrs, k], ww) for k in (0, 1)]
        pos[h] = hubs_at[np.abs(hubs_at - median).sum(axis=1).argmin()]


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> int:
    order = np.argsort(values, kind="stable")
    c = np.cumsum(weights[order])
    return int(values[order][np.searchsorted(c, c[-1] / 2)])


def refine(g: TrafficGraph, pos: np.ndarray, cores: int, rng: np.random.Generator, sweeps: int, window: int) -> int:
    """Greedy pairwise swaps of nearby core slots that lower the cost; returns swaps made."""
    swaps = 0
    for _ in range(sweeps):
        a = rng.integers(0, cores, size=cores)
        b = np.clip(a + rng.integers(-window, window + 1, size=cores), 0, cores - 1)
        for i, j in zip(a.tolist(), b.tolist()):
            if i == j:
                continue
            before = g.node_cost(i, pos) + g.node_cost(j, pos)
            pos[[i, j]] = pos[[j, i]]
            after = g.node_cost(i, pos) + g.node_cost(j, pos)
            if after < before - 1e-9:
                swaps += 1
            else:
                pos[[i, j]] = pos[[j, i]]
    return swaps


@register_pass
@dataclass(frozen=True)
class Place(Pass):
    """Assigns each partitioned core a chip and a mesh position, and each embedded/host op the
    embedded processor of a chip, minimising hop-weighted spike traffic: messages per token
    (calibrated firing rates where present, else `default-rate` per channel) times mesh hops.
    Cores are laid along Hilbert curves (over chips, and inside each chip) in dataflow order, hubs go
    to the weighted median of their cores, then random nearby swaps refine it (deterministic
    under `seed`). A naive in-order, row-major placement is measured beside it.

    Requires: partition. Guarantees: every core op has `hw.chip` (chips of its tiles) and the
    report's `place` section gives traffic, hops, and the naive baseline."""

    name = "place"
    default_rate: float = option(1.13, "messages per channel per token without calibration (the paper's spikes/channel)")
    sweeps: int = option(2, "refinement sweeps (each tries one swap per core)")
    window: int = option(64, "swap partners lie at most this many slots apart")
    seed: int = option(0, "random seed of the refinement")

    report_rank = 60
    report_key = "place"

    @classmethod
    def render_section(cls, p: dict, report: dict) -> list[str]:
        rates = "calibrated" if "calibrate" in report else f"assumed ({p.get('default_rate', 1.13)} per channel)"
        return [f"- placement: {p['ours']['messages_per_token']:,.0f} messages per {per_unit(report)}, {p['ours']['avg_hops']:.2f} "
                f"hops each ({p['ratio']:.2f}x the hop traffic of in-order placement), "
                f"{p['ours']['cross_chip_messages_per_token']:,.0f} crossing chips; message rates {rates}", ""]

    def run(self, module: Module, ctx: PassContext) -> bool:
        system = ctx.machine
        if "cores_used" not in ctx.report:
            raise SbirError("place: run partition first")
        g = traffic_graph(module, self.default_rate)
        n = g.cores
        hubs_at = embedded_positions(system)
        per_chip_hubs = max(system.chip.embedded_processors, 1)
        naive = np.zeros((g.nodes, 2), np.int64)
        naive[:n] = grid_positions(system, "rows")[:n]
        for h in g.hubs:  # naive: a hub sits on the chip of the first core it talks to
            nbrs, _ = g.neighbours(h)
            first = nbrs[~g.is_hub[nbrs]].min() if len(nbrs) and (~g.is_hub[nbrs]).any() else 0
            naive[h] = hubs_at[(first // system.chip.cores_per_chip) * per_chip_hubs]
        pos = np.zeros_like(naive)
        pos[:n] = grid_positions(system, "hilbert")[:n]
        place_hubs(g, pos, hubs_at)
        rng = np.random.default_rng(self.seed)
        sweeps = max(self.sweeps, -(-20_000 // max(n, 1)))  # small models: enough attempts to settle
        swaps = refine(g, pos, n, rng, sweeps, self.window) if n > 1 else 0
        place_hubs(g, pos, hubs_at)
        cols, rows = system.chip.mesh
        chip_of = (pos[:, 1] // rows) * system.chip_mesh[0] + (pos[:, 0] // cols)
        for op in module.ops:
            if "hw.cores" in op.attrs:
                first, count = op.attrs["hw.cores"]
                op.attrs["hw.chips"] = tuple(sorted({int(c) for c in chip_of[first:first + count]}))
        ctx.report["place"] = {"ours": g.summary(pos, chip_of), "naive": g.summary(naive, (naive[:, 1] // rows) * system.chip_mesh[0] + naive[:, 0] // cols),
                               "swaps": swaps, "default_rate": self.default_rate}
        ctx.report["place"]["ratio"] = ctx.report["place"]["ours"]["hop_traffic"] / max(ctx.report["place"]["naive"]["hop_traffic"], 1e-12)
        ctx.results["placement"] = pos
        ctx.results["traffic"] = g
        return True
