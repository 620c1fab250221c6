"""Partition: every synaptic projection and neuron population onto neurocores, within the
per-core limits of the target's machine description (core memory shared by synapses, neuron state
and routing; input and output axons; neurons); everything else onto the embedded or host
processors, as the machine's placement table says."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sbcompile.ir import Module, Op, SbirError
from sbcompile.ir.dialects.io import Input
from sbcompile.ir.dialects.spike import Encode
from sbcompile.ir.dialects.syn import Dense
from sbcompile.pictures import draw_core_map
from sbcompile.loihi2_model.neuron_programs import (
    Population, core_inputs, held_operand, micro_ops, population, steps,
)

from .base import Pass, PassContext, option
from .legality import TileUse, violations
from .mapping import CoreOp, Partitioning, put
from .registry import register_pass


def tile_use(op: CoreOp, chip: Any, destinations: int, pop: Population | None = None, in_axons: int = 0) -> TileUse:
    """What the largest tile of `op` puts on its core. A projection's input axon holds a row of
    weights and a header; a population's neurons keep their program's state and their share of
    its synapses (8 bits and a header each), its core the program's tables; every neuron keeps
    one routing entry per destination."""
    out_axons = op.out_t * destinations
    routing = out_axons * chip.routing_bits_per_axon
    if op.dense or pop is None:
        return TileUse(op.out_t, op.in_t, op.in_t * (op.out_t * op.weight_bits + chip.axon_overhead_bits),
                       op.out_t * chip.neuron_state_bits, routing, out_axons)
    synapses = op.out_t * -(-pop.synapses // max(pop.neurons, 1)) * (8 + chip.axon_overhead_bits) + pop.table_bits
    return TileUse(op.out_t, in_axons, synapses, op.out_t * pop.state_bits, routing, out_axons)


def best_tiling(value: str, n_out: int, n_in: int, bits: int, chip: Any, destinations: int = 1) -> CoreOp:
    """The projection tiling with the fewest cores, counting the routing its input channels cost
    their sender (each channel has an output axon per row tile: k_out x n_in axons, a core
    holds `max_out_axons`); among equals, the fewest input splits (each adds a level to the
    accumulator tree). Raises if one neuron's synapses cannot fit a core."""
    memory = chip.core_memory_bits
    per_neuron_fixed = chip.neuron_state_bits + destinations * chip.routing_bits_per_axon

    def cost(t: CoreOp) -> float:
        return t.count + t.k_out * t.n_in / chip.max_out_axons
    out_cap = max(1, chip.max_out_axons // max(destinations, 1))
    best: CoreOp | None = None
    k_in = max(1, -(-n_in // chip.max_in_axons))
    while k_in <= n_in:
        in_t = -(-n_in // k_in)
        room = memory - in_t * chip.axon_overhead_bits
        out_t = min(chip.neurons_per_core, n_out, out_cap, room // (in_t * bits + per_neuron_fixed) if room > 0 else 0)
        if out_t >= 1:
            t = CoreOp(value, True, 0, n_out, n_in, out_t, in_t, -(-n_out // out_t), k_in, bits)
            if best is None or cost(t) < cost(best):
                best = t
            if k_in >= cost(best):  # more input splits can no longer win
                break
        k_in += 1
    if best is None:
        raise SbirError(f"core-memory-per-core: %{value}: one neuron's synapses ({n_in * bits + per_neuron_fixed:,} bits "
                        f"with its state and routing) exceed a core's {memory:,} bits")
    return best


def population_tiling(op: Op, pop: Population, held: bool, chip: Any, destinations: int = 1,
                      most: int | None = None) -> CoreOp:
    """A neuron population in equal tiles of at most `most` neurons, each within the neuron, input
    and output axon and memory limits (the inputs a core needs grow with its neurons:
    `core_inputs`)."""
    per_neuron = (pop.state_bits + destinations * chip.routing_bits_per_axon
                  + -(-pop.synapses // max(pop.neurons, 1)) * (8 + chip.axon_overhead_bits))
    cap = max(1, min(pop.neurons, most or pop.neurons, chip.neurons_per_core, max(1, chip.max_out_axons // max(destinations, 1)),
                     (chip.core_memory_bits - pop.table_bits) // per_neuron))
    lo, hi = 1, cap
    while lo < hi:  # the most neurons whose inputs fit a core's axons
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if core_inputs(op, mid, held) <= chip.max_in_axons else (lo, mid - 1)
    return CoreOp(op.result.name, False, 0, pop.neurons, pop.neurons, lo, lo, -(-pop.neurons // lo), 1, 8,
                  int(op.result.type.shape[-1]) if op.result.type.shape else 1)


def holders(module: Module, where: dict[str, str]) -> dict[str, str]:
    """Each op on neurocores whose channel program runs in its producer's neurons (elementwise
    ops, the channel half of encoders and norms) -> the op that owns those neurons."""
    root: dict[str, str] = {}
    for op in module.ops:
        i = held_operand(op) if where[op.result.name] == "core" else None
        if i is None or i >= len(op.operands):
            continue
        v = op.operands[i]
        if v.owner is not None and where.get(v.name) == "core" and v.type.shape[-1:] == op.result.type.shape[-1:]:
            root[op.result.name] = root.get(v.name, v.name)
    return root


def silent_inputs(op: Op) -> int:
    """Input channels that calibration found silent (their synapses never receive a spike)."""
    src = op.operands[0].owner
    if src is None or not src.isa(Encode) or "calib.rate" not in src.attrs:
        return 0
    return sum(1 for r in src.attrs["calib.rate"] if r == 0)


def weight_bits_of(op: Op, fallback: int) -> int:
    return int(op.attrs.get("quant.bits", fallback))


def destinations_per_neuron(names: list[str], users: dict[str, list[Op]], tiles: dict[str, CoreOp],
                            holder: dict[str, str]) -> int:
    """Output axons per neuron of the tiles that send `names` (a value and those its neurons
    hold): one per consumer tile that reads the channel (a projection's channel feeds each of
    its k_out row tiles), one per processor op (the local instance)."""
    total = 0
    for name in names:
        for u in users[name]:
            if holder.get(u.result.name) in (name, holder.get(name, name)):
                total += 1 if u.result.name in tiles else 0  # same neurons; its reduction neurons, if any
                continue
            t = tiles.get(u.result.name)
            total += t.k_out if t is not None and t.dense else 1
    return max(total, 1)


@register_pass
@dataclass(frozen=True)
class Partition(Pass):
    """Tiles every op the machine places on neurocores: a projection (`syn.dense`: one neuron per
    output channel, one input axon per input channel) into k_out x k_in tiles, a neuron population
    into equal tiles, so that no core exceeds its neurons, input axons, output axons (one per
    neuron and destination tile) or its memory, shared by synapses (weights at their quantized
    width), neuron state and routing entries. Calibrated silent input channels are left out. Ops
    of other classes go to the embedded processors or the host, as the machine's placement table
    says, and the report lists them with the bytes per token they exchange with the cores.

    Requires: a Loihi-style machine description (`ctx.machine` with `chip` limits and `where()`).
    Every tile is checked against the named legality rules (passes/legality.py), one per limit.
    Guarantees: every op carries `hw.where` (core, embedded or host); every core op its tiling
    (`hw.tile` = [out_t, in_t], `hw.tiles` = [k_out, k_in]) and cores (`hw.cores` = [first,
    count]); a `Partitioning` result for place. A model that does not fit fails naming the limit
    and a system that would fit."""

    name = "partition"
    skip_silent: bool = option(True, "leave calibrated silent input channels out of the synapse memory")
    population_tile: int = option(1024, "most neurons of a population per core (every core updates all its neurons "
                                        "every time step, so the largest tile sets each step's floor)")

    report_rank = 50

    @classmethod
    def report_section(cls, report: dict) -> list[str]:
        return markdown(report)

    def run(self, module: Module, ctx: PassContext) -> bool:
        system = ctx.machine
        if system is None or not hasattr(system, "chip"):
            raise SbirError(f"partition needs a neuromorphic machine description (target '{ctx.target}' has none; use -t loihi2)")
        chip = system.chip
        where = {op.result.name: system.where(op) for op in module.ops}
        holder = holders(module, where)
        pops = {op.result.name: _population(op, op.result.name in holder) for op in module.ops
                if where[op.result.name] == "core" and not op.isa(Dense)}
        core_ops = [op for op in module.ops if where[op.result.name] == "core"
                    and (op.isa(Dense) or pops[op.result.name].neurons > 0)]
        users = module.users()
        held_by: dict[str, list[str]] = {}
        for name, root in holder.items():
            held_by.setdefault(root, []).append(name)
        tiles = self._tile(core_ops, chip, system.formats.weight_bits, {}, pops, holder)
        dests: dict[str, int] = {}
        for _ in range(4):  # destinations depend on consumers' tilings: settle them
            dests = {op.result.name: destinations_per_neuron([op.result.name, *held_by.get(op.result.name, [])],
                                                             users, tiles, holder) for op in core_ops}
            for name in dests:  # reduction neurons broadcast to every tile of the neurons they serve
                if name in holder and holder[name] in tiles:
                    dests[name] += tiles[holder[name]].k_out
            again = self._tile(core_ops, chip, system.formats.weight_bits, dests, pops, holder)
            if again == tiles:
                break
            tiles = again
        per_op: dict[str, dict] = {}
        next_core = 0
        totals = {"neurons": 0, "synapse_bits": 0, "state_bits": 0, "routing_bits": 0, "in_axons": 0}
        for i, op in enumerate(module.ops):
            ctx.progress("partition", i / max(len(module.ops), 1))
            name = op.result.name
            op.attrs["hw.where"] = where[name]
            if name in holder:
                op.attrs["hw.fused"] = holder[name]
            if name not in tiles:
                continue
            t = tiles[name] = _at(tiles[name], next_core)
            pop = pops.get(name)
            use = tile_use(t, chip, dests[name], pop, core_inputs(op, t.out_t, name in holder) if pop else 0)
            broken = violations(use, chip, f"{op.name} %{name}", next_core)
            if broken:
                raise SbirError("; ".join(broken), op.where())
            op.attrs["hw.tile"] = (t.out_t, t.in_t)
            op.attrs["hw.tiles"] = (t.k_out, t.k_in)
            op.attrs["hw.cores"] = (next_core, t.count)
            per_op[name] = {"op": op.name, "shape": [t.n_out, t.n_in], "tile": [t.out_t, t.in_t],
                            "tiles": [t.k_out, t.k_in], "cores": t.count,
                            "memory_kib_per_core": round(use.memory_bits / 8192, 1), "out_axons_per_core": use.out_axons}
            # at least every weight, neuron and routing entry once, however it is tiled
            if pop is None:
                active = t.n_in - (silent_inputs(op) if self.skip_silent else 0)
                totals["synapse_bits"] += active * (t.n_out * t.weight_bits + chip.axon_overhead_bits)
                totals["state_bits"] += t.n_out * chip.neuron_state_bits
                totals["in_axons"] += active
            else:
                totals["synapse_bits"] += pop.synapses * (8 + chip.axon_overhead_bits) + pop.table_bits * t.count
                totals["state_bits"] += t.n_out * pop.state_bits
                totals["in_axons"] += core_inputs(op, t.n_out, name in holder)
            totals["routing_bits"] += t.n_out * dests[name] * chip.routing_bits_per_axon
            totals["neurons"] += t.n_out
            next_core += t.count
        memory = chip.core_memory_bits
        stored = totals["synapse_bits"] + totals["state_bits"] + totals["routing_bits"]
        bounds = {"neurons per core": math.ceil(totals["neurons"] / chip.neurons_per_core),
                  "core memory": math.ceil(stored / memory),
                  "input axons per core": math.ceil(totals["in_axons"] / chip.max_in_axons)}
        lower = max(max(bounds.values()), 1 if per_op else 0)
        binding = max(bounds, key=lambda k: bounds[k])
        off = [op for op in module.ops if where[op.result.name] != "core" and not op.isa(Input)]
        layers = max(int(module.attrs.get("layers", 1) or 1), 1)
        reads_outputs = any(where.get(v.name) == "core" for v in module.outputs)
        ctx.report.update({
            "system": system.name, "cores_used": next_core, "cores_lower_bound": lower,
            "chips_needed": -(-next_core // chip.cores_per_chip), "cores_available": system.cores,
            "core_memory_gb": {k: totals[k] / 8e9 for k in ("synapse_bits", "state_bits", "routing_bits")},
            "partition": per_op, "host_ops": host_ops(module),
            # the x86 processor that reads the outputs (a language model's argmax) counts as one op
            "mapping": {"offcore_ops": len(off) + reads_outputs, "layers": layers,
                        "offcore_ops_per_layer": round((len(off) + reads_outputs) / layers, 4),
                        "fused_ops": len(holder)},
        })
        if next_core > system.cores:
            core_map = [(name, v["cores"]) for name, v in per_op.items()]
            ctx.failure_notes.append(lambda directory: draw_core_map(directory / f"{self.name}-cores.png", core_map, system.cores))
            raise SbirError(f"the model needs {next_core:,} cores (bound by {binding}: {stored / 8e9:,.1f} GB of synapses, "
                            f"state and routing at {chip.core_memory_kib} KiB per core); {system.name} has {system.cores:,}"
                            f"{suggest(next_core, chip.cores_per_chip)}")
        core_tiles = {n: tiles[n] for n in per_op}
        put(ctx, Partitioning(where, core_tiles, next_core, holder, program_load(module, where, holder, core_tiles),
                              {op.result.name: steps(op, op.result.name in holder,
                                                     core_tiles[op.result.name].k_in if op.result.name in core_tiles else 1)
                               for op in module.ops if where[op.result.name] == "core"}))
        return True

    def _tile(self, ops: list[Op], chip: Any, default_bits: int, dests: dict[str, int],
              pops: dict[str, Population], holder: dict[str, str]) -> dict[str, CoreOp]:
        out: dict[str, CoreOp] = {}
        for op in ops:
            name, n_out = op.result.name, op.result.type.shape[-1]
            d = dests.get(name, 1)
            if op.isa(Dense):
                n_in = op.operands[0].type.shape[-1]
                active = max(n_in - (silent_inputs(op) if self.skip_silent else 0), 1)
                out[name] = best_tiling(name, n_out, active, weight_bits_of(op, default_bits), chip, d)
            else:
                out[name] = population_tiling(op, pops[name], name in holder, chip, d, self.population_tile)
        return out


def program_load(module: Module, where: dict[str, str], holder: dict[str, str],
                 tiles: dict[str, CoreOp]) -> dict[str, tuple[int, int, float]]:
    """Each core op's neuron-program micro-operations per token, spread evenly over the cores that
    run them: its own, else (fused) its holder's output tiles."""
    out: dict[str, tuple[int, int, float]] = {}
    for op in module.ops:
        name = op.result.name
        if where[name] != "core" or op.isa(Input):
            continue
        t = tiles.get(name) or tiles.get(holder.get(name, ""))
        if t is None:
            continue
        out[name] = (t.first, t.count, micro_ops(op) / t.count)
    return out


def _population(op: Op, held: bool) -> Population:
    """The op's neurons, or a clear error for an op placed on neurocores without a neuron program."""
    try:
        return population(op, held)
    except ValueError as e:
        raise SbirError(f"partition: {e}: it cannot run on neurocores; place its class on 'embedded' or 'host' "
                        f"(--system-set chip.placement=...)", op.where()) from None


def _at(t: CoreOp, first: int) -> CoreOp:
    return CoreOp(t.value, t.dense, first, t.n_out, t.n_in, t.out_t, t.in_t, t.k_out, t.k_in, t.weight_bits, t.channels)


def suggest(cores: int, per_chip: int) -> str:
    """What would fit: Hala Point if the model fits there, else a system of enough chips."""
    if cores <= 140_544:
        return "; try --system hala-point"
    chips = -(-cores // per_chip)
    side = math.ceil(math.sqrt(chips))
    return (f"; it would fit {chips:,} chips of {per_chip} cores: --system-set chips={chips} "
            f"--system-set chip_mesh=[{side},{-(-chips // side)}]")


def host_ops(module: Module) -> list[dict]:
    """Ops off the neurocores, with the bytes per token they exchange with core ops (a float32
    per channel in either direction: graded payloads are widened on the way)."""
    users = module.users()
    out = []
    for op in module.ops:
        where = op.attrs.get("hw.where")
        if where in (None, "core"):
            continue
        width = op.result.type.shape[-1] if op.result.type.shape else 1
        to_cores = sum(1 for u in users[op.result.name] if u.attrs.get("hw.where") == "core")
        from_cores = sum(1 for v in op.operands if v.owner is not None and v.owner.attrs.get("hw.where") == "core")
        in_width = sum(v.type.shape[-1] for v in op.operands if v.owner is not None and v.owner.attrs.get("hw.where") == "core")
        out.append({"op": op.name, "value": op.result.name, "where": where,
                    "bytes_per_token_in": 4 * in_width if from_cores else 0,
                    "bytes_per_token_out": 4 * width if to_cores else 0})
    return out


def markdown(report: dict) -> list[str]:
    """The report's mapping section."""
    if "cores_used" not in report:
        return []
    mem = report.get("core_memory_gb", {})
    return ["## Mapping", "",
            f"- {report['cores_used']:,} cores (lower bound {report['cores_lower_bound']:,}) on "
            f"{report.get('chips_used', report.get('chips_needed', 0)):,} chip(s) of {report['system']}",
            f"- core memory: {mem.get('synapse_bits', 0):.3g} GB synapses, {mem.get('state_bits', 0):.3g} GB neuron state, "
            f"{mem.get('routing_bits', 0):.3g} GB routing",
            f"- {len(report.get('host_ops', []))} ops on the embedded or host processors"
            + (f" ({report['mapping']['offcore_ops_per_layer']:.3g} per layer, the outputs' argmax included); "
               f"{report['mapping']['fused_ops']} ops fused into their producers' neurons" if "mapping" in report else ""), ""]
