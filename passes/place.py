"""Place: partitioned cores onto chips (chip-aware, communication-minimising) and mesh
positions, processor ops onto embedded processors, and the traffic graph that results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sbcompile.ir import Module

from .base import Pass, PassContext, option
from .chips import assign_chips
from .mapping import Partitioning, Placement, Traffic, get, put
from .registry import register_pass
from .report import per_unit
from .aligned_order import aligned_order
from .traffic import PAPER_ACTIVE_SHARE, build_traffic, home_chips, tile_links


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


def chip_origins(system: Any) -> np.ndarray:
    """Global (x, y) of each chip's corner: chips along a Hilbert curve over the chip mesh, so
    that chips with consecutive numbers are neighbours."""
    cols, rows = system.chip.mesh
    cells = hilbert_order(*system.chip_mesh)[: system.chips]
    return np.array([(cx * cols, cy * rows) for cx, cy in cells], np.int64).reshape(-1, 2)


def local_slots(system: Any) -> np.ndarray:
    """Core slots inside a chip: column by column (serpentine) from the west edge, where the
    embedded processors attach (an assumption: Intel publishes no floor plan)."""
    cols, rows = system.chip.mesh
    slots = [(x, y if x % 2 == 0 else rows - 1 - y) for x in range(cols) for y in range(rows)]
    return np.array(slots[: system.chip.cores_per_chip], np.int64)


def processor_rows(system: Any) -> list[int]:
    """Rows of the west edge where a chip's embedded processors attach, evenly spread."""
    rows = system.chip.mesh[1]
    e = max(system.chip.embedded_processors, 1)
    return [round(i * (rows - 1) / max(e - 1, 1)) for i in range(e)]


def position(traffic: Traffic, chip_of_core: np.ndarray, system: Any) -> np.ndarray:
    """Mesh positions of every node: cores in their chip's slots in core order; each processor
    instance on the least loaded embedded processor of its chip (heaviest work first)."""
    origins, slots = chip_origins(system), local_slots(system)
    pos = np.zeros((len(traffic.node_chip), 2), np.int64)
    order = np.lexsort((np.arange(traffic.cores), chip_of_core))
    rank = np.zeros(traffic.cores, np.int64)
    starts = np.searchsorted(chip_of_core[order], chip_of_core[order])
    rank[order] = np.arange(traffic.cores) - starts
    pos[: traffic.cores] = origins[chip_of_core] + slots[rank]
    rows = processor_rows(system)
    load: dict[int, list[float]] = {}
    procs = [n for n in range(traffic.cores, len(traffic.node_chip)) if traffic.node_chip[n] >= 0]
    for n in sorted(procs, key=lambda n: (-traffic.work[n], n)):
        c = int(traffic.node_chip[n])
        loads = load.setdefault(c, [0.0] * len(rows))
        j = int(np.argmin(loads))
        loads[j] += traffic.work[n]
        traffic.processor_of[n] = c * len(rows) + j
        pos[n] = origins[c] + (0, rows[j])
    pos[traffic.node_chip < 0] = -1
    traffic.node_pos = pos
    return pos


def endpoints(traffic: Traffic, system: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mesh positions of every edge's ends; the host's end is where the host link attaches to
    the other end's chip (its first embedded processor)."""
    a, b = traffic.node_pos[traffic.src].copy(), traffic.node_pos[traffic.dst].copy()
    ca, cb = traffic.node_chip[traffic.src], traffic.node_chip[traffic.dst]
    origins, attach = chip_origins(system), np.array((0, processor_rows(system)[0]))
    a[ca < 0] = origins[cb[ca < 0]] + attach
    b[cb < 0] = origins[ca[cb < 0]] + attach
    return a, b


def hops(traffic: Traffic, system: Any) -> np.ndarray:
    """Mesh hops of every edge (x then y; the host's end at its chip's host link)."""
    a, b = endpoints(traffic, system)
    return np.abs(a - b).sum(axis=1)


def summary(traffic: Traffic, edge_hops: np.ndarray) -> dict:
    total = float(traffic.messages.sum())
    cross = float(traffic.messages[traffic.cross_chip].sum())
    between_cores = float(traffic.messages[(traffic.src < traffic.cores) & (traffic.dst < traffic.cores)].sum())
    host = float(traffic.messages[traffic.host_edges].sum())
    by_kind: dict[str, float] = {}
    for k, m in zip(traffic.kind, traffic.messages.tolist()):
        by_kind[k] = by_kind.get(k, 0.0) + m
    return {"messages_per_token": round(total, 3), "cross_chip_messages_per_token": round(cross, 3),
            "host_messages_per_token": round(host, 3),
            "cross_chip_share": round(cross / total, 4) if total else 0.0,
            "core_to_core_share": round(between_cores / total, 4) if total else 0.0,
            "messages_by_kind": {k: round(v, 3) for k, v in sorted(by_kind.items())},
            "hop_traffic": round(float((traffic.messages * edge_hops).sum()), 3),
            "avg_hops": round(float((traffic.messages * edge_hops).sum()) / total, 3) if total else 0.0}


@register_pass
@dataclass(frozen=True)
class Place(Pass):
    """Assigns every partitioned core a chip and a mesh position, and every processor op an
    embedded processor (or the host), minimising traffic between chips. Cores are packed onto
    chips in dataflow order, then pieces of half a chip are moved by recursive bisection and
    chip-pair refinement with networkx's Kernighan-Lin (passes/chips.py); a third assignment packs
    each input-split projection's cores beside the tiles that produce its input slices
    (passes/aligned_order.py); of the three, the one with the fewest messages crossing chips is
    kept. A processor op that talks to cores on
    several chips gets an instance on each: a broadcast crosses to a chip once and is relayed
    there, partial results are merged on their chip before they cross; its home is the chip it
    exchanges the most with. Chips lie along a Hilbert curve of the chip mesh, cores column by
    column from the west edge, where the embedded processors attach.

    Requires: partition. Guarantees: every core op has `hw.chips`; a `Placement` and a `Traffic`
    result for schedule and energy; the report's `place` section gives messages per token by
    kind, the share crossing chips (and the baseline without relays), hops, and the cut."""

    name = "place"
    default_active: float = option(PAPER_ACTIVE_SHARE, "without calibration, the share of tokens in which a spike "
                                   "channel's count is not zero (one graded spike each): 1 - the SpikingBrain report's 18.4% silent")
    context: int = option(4096, "keys an attention without a window reads per token (the context length)")
    seed: int = option(0, "random seed of the Kernighan-Lin refinement")

    report_rank = 60
    report_key = "place"

    @classmethod
    def render_section(cls, p: dict, report: dict) -> list[str]:
        return markdown(report)

    def run(self, module: Module, ctx: PassContext) -> bool:
        system = ctx.machine
        part = get(ctx, Partitioning, "place", "partition")
        per_chip = system.chip.cores_per_chip
        links = tile_links(module, part)
        packed = np.arange(part.cores, dtype=np.int64) // per_chip
        refined, cut_before, cut_after = assign_chips(part, links, per_chip, self.seed)

        def traffic_of(chip_of: np.ndarray, relay: bool = True) -> Traffic:
            t = build_traffic(module, part, links, chip_of, home_chips(module, part, links, chip_of), system,
                              self.default_active, self.context, relay)
            position(t, chip_of, system)
            return t

        aligned = np.empty(part.cores, dtype=np.int64)
        aligned[aligned_order(module, part)] = np.arange(part.cores, dtype=np.int64) // per_chip
        # the refinement works on a proxy (the piece graph), the alignment on a rule of thumb: of the
        # assignments, keep the one with the fewest messages crossing chips (the first on a tie)
        candidates: dict[str, tuple[np.ndarray, Traffic]] = {"packed": (packed, traffic_of(packed))}
        for name, other in (("refined", refined), ("aligned", aligned)):
            if not any(np.array_equal(other, c) for c, _ in candidates.values()):
                candidates[name] = (other, traffic_of(other))
        crossing = {name: float(t.messages[t.cross_chip].sum()) for name, (_, t) in candidates.items()}
        kept = min(crossing, key=lambda name: crossing[name])
        chip_of, traffic = candidates[kept]
        home = home_chips(module, part, links, chip_of)
        baseline = traffic_of(packed, relay=False)
        for op in module.ops:
            t = part.core_ops.get(op.result.name)
            if t is not None:
                op.attrs["hw.chips"] = tuple(sorted({int(c) for c in chip_of[t.first:t.first + t.count]}))
        chips_used = int(len(np.unique(chip_of))) if part.cores else 0
        cols, rows = system.chip.mesh
        placement = Placement(chip_of, traffic.node_pos[: part.cores], home, chips_used,
                              (system.chip_mesh[0] * cols, system.chip_mesh[1] * rows), cut_before, cut_after)
        put(ctx, placement)
        put(ctx, traffic)
        ctx.report["chips_used"] = chips_used
        ctx.report["place"] = {"ours": summary(traffic, hops(traffic, system)),
                               "baseline_no_relays": summary(baseline, hops(baseline, system)),
                               "chip_cut_before": round(cut_before, 1), "chip_cut_after": round(cut_after, 1),
                               "cross_chip_messages": {name: round(c, 3) for name, c in crossing.items()},
                               "assignment": kept,
                               "default_active": self.default_active}
        ours = ctx.report["place"]["ours"]
        ctx.report["placement"] = {"cross_chip_share": ours["cross_chip_share"], "core_to_core_share": ours["core_to_core_share"]}
        return True


def markdown(report: dict) -> list[str]:
    """The report's placement lines."""
    if "place" not in report:
        return []
    p, b = report["place"]["ours"], report["place"]["baseline_no_relays"]
    rates = ("calibrated" if "calibrate" in report
             else f"assumed: each spike channel sends in {report['place']['default_active']:.1%} of them")
    return [f"- placement: {p['messages_per_token']:,.0f} messages per {per_unit(report)} (rates {rates}), "
            f"{p['avg_hops']:.2f} hops each; {p['core_to_core_share']:.1%} between neurocores; "
            f"{p['cross_chip_share']:.1%} cross chips ({b['cross_chip_share']:.1%} with one instance per processor op, "
            f"in dataflow order), {p['host_messages_per_token']:,.0f} go to or from the host",
            f"- chip cut (piece graph): {report['place']['chip_cut_before']:,.0f} packed in order, "
            f"{report['place']['chip_cut_after']:,.0f} after Kernighan-Lin refinement; "
            f"kept: the {report['place']['assignment']} assignment, of "
            f"{', '.join(report['place']['cross_chip_messages'])} (the fewest messages crossing chips)", ""]
