"""Schedule: the per-time-step model of a placed module. Each op runs in the time step after
its inputs arrive (a message sent in step t is integrated in step t + 1, as on Loihi). A step
lasts as long as its slowest resource plus a barrier: a core's synaptic ops, neuron updates or
synapse-memory reads, a mesh link's or chip-to-chip link's bits (with the link's latency), an
embedded processor's or the host's work, the host link. Decoding one token walks the steps one
after another; prefill streams tokens through them, one step per token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sbcompile.ir import Module

from sbcompile.loihi2_model.costs import SCENARIOS, Scenario

from sbcompile.loihi2_model.neuron_programs import LIF_UPDATE

from .base import Pass, PassContext, option
from .mapping import Loads, Partitioning, Placement, TimeEstimate, Timing, Traffic, get, put
from .place import endpoints, hops
from .registry import register_pass
from .report import is_network
from .traffic import ARGMAX

LIF_MICRO_OPS = sum(LIF_UPDATE.values())


def xy_links(src: np.ndarray, dst: np.ndarray, weight: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Dimension-order (x then y) routes of messages, as (link ids, load per link), summed per
    link. Link ids: horizontal (x, y)->(x+1, y) is y * width + x; vertical (x, y)->(x, y+1) is
    width * height + y * width + x."""
    ids, loads = [], []
    x0, y0, x1, y1 = src[:, 0], src[:, 1], dst[:, 0], dst[:, 1]
    for lo, n, fixed, horizontal in ((np.minimum(x0, x1), np.abs(x1 - x0), y0, True),
                                     (np.minimum(y0, y1), np.abs(y1 - y0), x1, False)):
        if n.sum() == 0:
            continue
        starts = np.repeat(lo, n)
        offsets = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        along, across = starts + offsets, np.repeat(fixed, n)
        ids.append(across * width + along if horizontal else width * height + along * width + across)
        loads.append(np.repeat(weight, n))
    if not ids:
        return np.zeros(0, np.int64), np.zeros(0)
    uniq, inv = np.unique(np.concatenate(ids), return_inverse=True)
    return uniq, np.bincount(inv, weights=np.concatenate(loads))


def crosses_chip(links: np.ndarray, width: int, height: int, chip: tuple[int, int]) -> np.ndarray:
    """Whether each mesh link joins two chips."""
    vertical, rest = np.divmod(links, width * height)
    y, x = np.divmod(rest, width)
    return np.where(vertical == 1, (y + 1) % chip[1] == 0, (x + 1) % chip[0] == 0)


@dataclass
class StepLoads:
    """Per level (time step of a token): the busiest core's synops and memory bits, the busiest
    processor's and the host's work, the busiest link's bits, host-link bits. `totals` holds the
    same maxima over whole tokens (each resource's sum over all steps), for the pipelined step."""

    core_synops: np.ndarray
    core_memory: np.ndarray
    core_programs: np.ndarray
    proc_work: np.ndarray
    host_work: np.ndarray
    host_bits: np.ndarray
    noc_bits: np.ndarray
    chip_bits: np.ndarray
    crosses: np.ndarray
    host_crossing: np.ndarray
    totals: dict[str, float]


def levels(module: Module, part: Partitioning) -> dict[str, int]:
    """ASAP time step of every op: its latest operand's plus the steps it adds (on neurocores, as
    its neuron programs say: none for an op fused into its producer's neurons, more for trees and
    reductions; one off them); the argmax of the outputs one after the last."""
    level: dict[str, int] = {}
    for op in module.ops:
        level[op.result.name] = (part.steps.get(op.result.name, 1)
                                 + max((level[v.name] for v in op.operands if v.name in level), default=-1))
    level[ARGMAX] = 1 + max(level.values(), default=-1)
    return level


def program_ops(part: Partitioning, level: dict[str, int], n: int) -> tuple[np.ndarray, float]:
    """The busiest core's neuron-program micro-operations in each time step, and over a token."""
    per_level = np.zeros(n)
    total = np.zeros(max(part.cores, 1))
    by_level: dict[int, list[tuple[int, int, float]]] = {}
    for name, entry in part.micro_ops.items():
        by_level.setdefault(level[name], []).append(entry)
    for lv, entries in by_level.items():
        cores = np.zeros(max(part.cores, 1))
        for first, count, each in entries:
            cores[first:first + count] += each
        per_level[lv] = cores.max()
        total += cores
    return per_level, float(total.max())


def edge_work(part: Partitioning, traffic: Traffic) -> tuple[np.ndarray, np.ndarray]:
    """Synaptic ops and synapse-memory bits read at the destination of every edge: a message
    into a projection tile reaches one synapse per output row of the tile."""
    rows = np.zeros(max(traffic.cores, 1))  # one slot even without cores: every index below stays valid
    bits = np.zeros(max(traffic.cores, 1))
    for t in part.core_ops.values():
        for a in range(t.k_out):
            lo, hi = t.out_range(a)
            first = t.first + a * t.k_in
            rows[first:first + t.k_in] = hi - lo if t.dense else 1
            bits[first:first + t.k_in] = t.weight_bits
    to_core = traffic.dst < traffic.cores
    per_message = rows[np.clip(traffic.dst, 0, len(rows) - 1)]
    if len(traffic.relayed) == len(traffic.dst):  # relays and identity synapses: one op per message
        per_message = np.where(traffic.relayed, 1.0, per_message)
    synops = np.where(to_core, traffic.messages * per_message, 0.0)
    return synops, synops * bits[np.clip(traffic.dst, 0, len(bits) - 1)]


def _link_max(a: np.ndarray, b: np.ndarray, bits: np.ndarray, system: Any) -> tuple[float, float, bool]:
    """The busiest mesh link's and chip link's bits, and whether any chip link is used."""
    cols, rows = system.chip.mesh
    width, height = system.chip_mesh[0] * cols, system.chip_mesh[1] * rows
    links, loads = xy_links(a, b, bits, width, height)
    if not len(links):
        return 0.0, 0.0, False
    chip_link = crosses_chip(links, width, height, (cols, rows))
    return (float(loads[~chip_link].max()) if (~chip_link).any() else 0.0,
            float(loads[chip_link].max()) if chip_link.any() else 0.0, bool(chip_link.any()))


def step_loads(part: Partitioning, traffic: Traffic, system: Any, level: dict[str, int]) -> StepLoads:
    """Every resource's load in every time step of a token, and over the whole token."""
    n = max(level.values(), default=0) + 2
    # a message is integrated in the step after it is sent; an op's own messages within its steps
    at = np.array([level[p] + (p != c) for p, c in (traffic.transfers[t] for t in traffic.transfer.tolist())], np.int64)
    synops, memory = edge_work(part, traffic)
    bits = traffic.messages * traffic.bits
    to_core = traffic.dst < traffic.cores
    core_synops, core_memory = np.zeros(n), np.zeros(n)
    for lv in np.unique(at[to_core]):
        sel = to_core & (at == lv)
        core_synops[lv] = np.bincount(traffic.dst[sel], weights=synops[sel]).max()
        core_memory[lv] = np.bincount(traffic.dst[sel], weights=memory[sel]).max()
    proc_work, host_work = np.zeros(n), np.zeros(n)
    n_proc = int(traffic.processor_of.max()) + 1 if len(traffic.processor_of) and traffic.processor_of.max() >= 0 else 1
    per_proc = np.zeros((n, n_proc))
    for node in range(traffic.cores, len(traffic.node_chip)):
        lv = level[traffic.node_value[node]]
        if traffic.node_chip[node] < 0:
            host_work[lv] += traffic.work[node]
        else:
            per_proc[lv, traffic.processor_of[node]] += traffic.work[node]
    proc_work[:] = per_proc.max(axis=1)
    host = traffic.host_edges
    host_bits = np.bincount(at[host], weights=bits[host], minlength=n)
    a, b = endpoints(traffic, system)
    noc_bits, chip_bits, crosses = np.zeros(n), np.zeros(n), np.zeros(n, bool)
    for lv in np.unique(at):
        sel = at == lv
        noc_bits[lv], chip_bits[lv], crosses[lv] = _link_max(a[sel], b[sel], bits[sel], system)
    noc_total, chip_total, any_cross = _link_max(a, b, bits, system)
    totals = {"core_synops": float(np.bincount(traffic.dst[to_core], weights=synops[to_core]).max()) if to_core.any() else 0.0,
              "core_memory": float(np.bincount(traffic.dst[to_core], weights=memory[to_core]).max()) if to_core.any() else 0.0,
              "proc_work": float(per_proc.sum(axis=0).max()), "host_work": float(host_work.sum()),
              "host_bits": float(host_bits.sum()), "noc_bits": noc_total, "chip_bits": chip_total,
              "crosses": float(any_cross), "host_crossing": float(host.any())}
    programs, programs_total = program_ops(part, level, n)
    totals["core_programs"] = programs_total
    return StepLoads(core_synops, core_memory, programs, proc_work, host_work, host_bits, noc_bits, chip_bits, crosses,
                     host_bits > 0, totals)


def neurons_per_core(part: Partitioning) -> int:
    return max((t.out_t for t in part.core_ops.values()), default=0)


def estimate(s: StepLoads, part: Partitioning, system: Any, scenario: Scenario) -> TimeEstimate:
    """Decode latency and the prefill step in one scenario of the cost ranges."""
    c = system.costs
    at = {name: getattr(c, name).at(scenario) for name in type(c).model_fields}
    update_floor = neurons_per_core(part) / at["neuron_updates_per_s_per_core"]
    micro_op_s = 1 / (at["neuron_updates_per_s_per_core"] * LIF_MICRO_OPS)  # a micro-op: 1/9 of a LIF update
    terms = {
        "synaptic ops": s.core_synops / at["synops_per_s_per_core"],
        "synapse memory": s.core_memory / at["memory_bits_per_s_per_core"],
        "neuron updates": update_floor + s.core_programs * micro_op_s,
        "embedded processors": s.proc_work / at["embedded_ops_per_s"],
        "host": s.host_work / at["host_ops_per_s"] + s.host_bits / at["host_link_bits_per_s"]
        + s.host_crossing * at["host_link_latency_s"],
        "mesh links": s.noc_bits / at["noc_link_bits_per_s"],
        "chip links": s.chip_bits / at["chip_link_bits_per_s"] + s.crosses * at["chip_link_latency_s"],
    }
    names = list(terms)
    table = np.stack([terms[n] for n in names])
    per_level = table.max(axis=0)
    active = (np.delete(table, names.index("neuron updates"), axis=0) > 0).any(axis=0) | (s.core_programs > 0)
    decode = float((per_level + at["barrier_s"])[active].sum())
    shares = np.bincount(table.argmax(axis=0)[active], weights=per_level[active], minlength=len(names))
    steps = int(active.sum())
    t = s.totals
    pipelined = {
        "synaptic ops": t["core_synops"] / at["synops_per_s_per_core"],
        "synapse memory": t["core_memory"] / at["memory_bits_per_s_per_core"],
        "neuron updates": update_floor + t["core_programs"] * micro_op_s,
        "embedded processors": t["proc_work"] / at["embedded_ops_per_s"],
        "host": t["host_work"] / at["host_ops_per_s"] + t["host_bits"] / at["host_link_bits_per_s"]
        + t["host_crossing"] * at["host_link_latency_s"],
        "mesh links": t["noc_bits"] / at["noc_link_bits_per_s"],
        "chip links": t["chip_bits"] / at["chip_link_bits_per_s"] + t["crosses"] * at["chip_link_latency_s"],
    }
    bound = max(pipelined, key=lambda k: pipelined[k])
    return TimeEstimate(decode, steps, pipelined[bound] + at["barrier_s"], bound, names[int(shares.argmax())])


def loads(part: Partitioning, traffic: Traffic, system: Any) -> Loads:
    """Totals per token for the energy model."""
    synops, memory = edge_work(part, traffic)
    edge_hops = hops(traffic, system)
    cols, rows = system.chip.mesh
    a, b = traffic.node_pos[traffic.src], traffic.node_pos[traffic.dst]
    both = (traffic.node_chip[traffic.src] >= 0) & (traffic.node_chip[traffic.dst] >= 0)
    crossings = np.where(both, np.abs(a[:, 0] // cols - b[:, 0] // cols) + np.abs(a[:, 1] // rows - b[:, 1] // rows), 0)
    bits = traffic.messages * traffic.bits
    neurons = sum(t.n_out * t.k_in for t in part.core_ops.values())  # every tile's neurons get input each token
    programs = sum(count * each for _, count, each in part.micro_ops.values()) / LIF_MICRO_OPS
    proc = np.arange(len(traffic.node_chip)) >= traffic.cores
    on_host = traffic.node_chip < 0
    return Loads(synops=float(synops.sum()), memory_bits=float(memory.sum()),
                 neurons=int(neurons), active_updates=float(neurons) + programs,
                 noc_bit_hops=float((bits * np.maximum(edge_hops - crossings, 0)).sum()),
                 chip_link_bits=float((bits * crossings).sum()),
                 embedded_ops=float(traffic.work[proc & ~on_host].sum()), host_ops=float(traffic.work[proc & on_host].sum()),
                 host_link_bits=float(bits[traffic.host_edges].sum()),
                 chips=int(len(np.unique(traffic.node_chip[: traffic.cores]))) if traffic.cores else 0)


@register_pass
@dataclass(frozen=True)
class Schedule(Pass):
    """Times a placed module with the per-step model (the form of Timcheck et al.'s Loihi 2
    runtime model, arXiv 2601.10035): every op runs in the step after its inputs arrive; a step
    lasts as long as its slowest resource (a core's synaptic ops, neuron updates or synapse
    reads; a mesh link's or chip link's bits plus the link's latency; an embedded processor's
    or the host's work; the host link) plus a barrier. Decode latency sums the steps of one
    token; prefill streams one token per step through all of them (pipelined), so its step is
    bound by each resource's total per token. Every figure is a range: the machine's cost
    ranges (sbcompile/loihi2_model/costs.py) at their optimistic, central and pessimistic ends.

    Requires: place. Guarantees: the module is unchanged; `Timing` and `Loads` results for
    energy; the report's `schedule` section with `decode_ms_per_token` and
    `prefill_tokens_per_s` as {low, central, high}, the time to first token of a `prompt`, steps
    per token and what bounds each."""

    name = "schedule"
    prompt: int = option(32768, "prompt tokens for the time to first token (prefill streamed, then one token's steps)")

    report_rank = 70
    report_key = "schedule"

    @classmethod
    def render_section(cls, c: dict, report: dict) -> list[str]:
        return markdown(report)

    def run(self, module: Module, ctx: PassContext) -> bool:
        system = ctx.machine
        part = get(ctx, Partitioning, "schedule", "place")
        get(ctx, Placement, "schedule", "place")
        traffic = get(ctx, Traffic, "schedule", "place")
        level = levels(module, part)
        s = step_loads(part, traffic, system, level)
        scen = {k: estimate(s, part, system, k) for k in SCENARIOS}
        put(ctx, Timing(scen, level))
        put(ctx, loads(part, traffic, system))
        # low ms/token is the optimistic end; low tokens/s the pessimistic one
        ctx.report["schedule"] = {
            "decode_ms_per_token": {k: scen[k].decode_s * 1e3 for k in SCENARIOS},
            "prefill_tokens_per_s": {"low": 1 / scen["high"].prefill_step_s, "central": 1 / scen["central"].prefill_step_s,
                                     "high": 1 / scen["low"].prefill_step_s},
            "decode_tokens_per_s": {"low": 1 / scen["high"].decode_s, "central": 1 / scen["central"].decode_s,
                                    "high": 1 / scen["low"].decode_s},
            "prompt_tokens": self.prompt,
            "time_to_first_token_ms": {k: (scen[k].decode_s + (self.prompt - 1) * scen[k].prefill_step_s) * 1e3
                                       for k in SCENARIOS},
            "steps_per_token": scen["central"].decode_steps, "levels": len({level[op.result.name] for op in module.ops}),
            "decode_bound": scen["central"].decode_bound, "prefill_bound": scen["central"].prefill_bound,
        }
        return False


def markdown(report: dict) -> list[str]:
    """The report's schedule section."""
    if "schedule" not in report:
        return []
    c = report["schedule"]
    d, p, t = c["decode_ms_per_token"], c["prefill_tokens_per_s"], c["decode_tokens_per_s"]
    if is_network(report):
        return ["## Schedule (per-step model; low / central / high)", "",
                f"- an input reaches the output after {c['steps_per_token']:,} time steps, "
                f"{d['low']:.3g} / {d['central']:.3g} / {d['high']:.3g} ms, bound mostly by {c['decode_bound']}", ""]
    return ["## Schedule (per-step model; low / central / high)", "",
            f"- decode: {d['low']:.3g} / {d['central']:.3g} / {d['high']:.3g} ms per token "
            f"({t['high']:.3g} / {t['central']:.3g} / {t['low']:.3g} tokens/s), {c['steps_per_token']:,} time steps per token, "
            f"bound mostly by {c['decode_bound']}",
            f"- prefill, pipelined: {p['low']:,.0f} / {p['central']:,.0f} / {p['high']:,.0f} tokens/s, bound by {c['prefill_bound']}; "
            f"time to first token of {c['prompt_tokens']:,} tokens: {_seconds(c['time_to_first_token_ms'])}",
            ""]


def _seconds(ms: dict) -> str:
    return " / ".join(f"{ms[k] / 1e3:.3g}" for k in SCENARIOS) + " s"
