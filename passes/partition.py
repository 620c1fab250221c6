"""Partition: every synaptic projection and neuron population onto neurocores, within the
per-core limits of the target's machine description (core memory shared by synapses, neuron state
and routing; input and output axons; neurons); everything else onto the embedded or host
processors, as the machine's placement table says."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sbcompile.ir import Module, Op, SbirError
from sbcompile.ir.dialects.spike import Encode
from sbcompile.ir.dialects.syn import Dense
from sbcompile.pictures import draw_core_map

from .base import Pass, PassContext, option
from .legality import TileUse, violations
from .mapping import CoreOp, Partitioning, put
from .registry import register_pass


def tile_use(op: CoreOp, chip: Any, destinations: int, operands: int) -> TileUse:
    """What the largest tile of `op` puts on its core. A projection's input axon holds a row of
    weights and a header; a population's neuron has one identity synapse per operand; every
    neuron keeps its state and one routing entry per destination."""
    if op.dense:
        synapses = op.in_t * (op.out_t * op.weight_bits + chip.axon_overhead_bits)
        in_axons = op.in_t
    else:
        synapses = op.out_t * operands * (op.weight_bits + chip.axon_overhead_bits)
        in_axons = op.out_t * operands
    out_axons = op.out_t * destinations
    return TileUse(op.out_t, in_axons, synapses, op.out_t * chip.neuron_state_bits,
                   out_axons * chip.routing_bits_per_axon, out_axons)


def best_tiling(value: str, n_out: int, n_in: int, bits: int, chip: Any, destinations: int = 1) -> CoreOp:
    """The projection tiling with the fewest cores; among equals, the fewest input splits (each
    costs a partial-sum merge). Raises if one neuron's synapses cannot fit a core."""
    memory = chip.core_memory_bits
    per_neuron_fixed = chip.neuron_state_bits + destinations * chip.routing_bits_per_axon
    out_cap = max(1, chip.max_out_axons // max(destinations, 1))
    best: CoreOp | None = None
    k_in = max(1, -(-n_in // chip.max_in_axons))
    while k_in <= n_in:
        in_t = -(-n_in // k_in)
        room = memory - in_t * chip.axon_overhead_bits
        out_t = min(chip.neurons_per_core, n_out, out_cap, room // (in_t * bits + per_neuron_fixed) if room > 0 else 0)
        if out_t >= 1:
            t = CoreOp(value, True, 0, n_out, n_in, out_t, in_t, -(-n_out // out_t), k_in, bits)
            if best is None or t.count < best.count:
                best = t
            if k_in >= best.count:  # more input splits can no longer win
                break
        k_in += 1
    if best is None:
        raise SbirError(f"core-memory-per-core: %{value}: one neuron's synapses ({n_in * bits + per_neuron_fixed:,} bits "
                        f"with its state and routing) exceed a core's {memory:,} bits")
    return best


def population_tiling(value: str, n_out: int, operands: int, chip: Any, destinations: int = 1) -> CoreOp:
    """A neuron population in equal tiles, each within the neuron, axon and memory limits."""
    per_neuron = (chip.neuron_state_bits + destinations * chip.routing_bits_per_axon
                  + operands * (8 + chip.axon_overhead_bits))
    out_t = min(n_out, chip.neurons_per_core, chip.max_in_axons // operands,
                max(1, chip.max_out_axons // max(destinations, 1)), chip.core_memory_bits // per_neuron)
    return CoreOp(value, False, 0, n_out, n_out, out_t, out_t, -(-n_out // out_t), 1, 8)


def silent_inputs(op: Op) -> int:
    """Input channels that calibration found silent (their synapses never receive a spike)."""
    src = op.operands[0].owner
    if src is None or not src.isa(Encode) or "calib.rate" not in src.attrs:
        return 0
    return sum(1 for r in src.attrs["calib.rate"] if r == 0)


def weight_bits_of(op: Op, fallback: int) -> int:
    return int(op.attrs.get("quant.bits", fallback))


def destinations_per_neuron(op: Op, users: list[Op], tiles: dict[str, CoreOp]) -> int:
    """Output axons per neuron: one per consumer tile that reads its channel (a projection's
    channel feeds each of its k_out row tiles), one per processor op (the local instance)."""
    total = 0
    for u in users:
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
        core_ops = [op for op in module.ops if where[op.result.name] == "core"]
        users = module.users()
        tiles = self._tile(core_ops, chip, system.formats.weight_bits, {})
        for _ in range(4):  # destinations depend on consumers' tilings: settle them
            dests = {op.result.name: destinations_per_neuron(op, users[op.result.name], tiles) for op in core_ops}
            again = self._tile(core_ops, chip, system.formats.weight_bits, dests)
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
            if name not in tiles:
                continue
            t = tiles[name] = _at(tiles[name], next_core)
            use = tile_use(t, chip, dests[name], len(op.operands))
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
            active = t.n_in - (silent_inputs(op) if self.skip_silent and op.isa(Dense) else 0)
            totals["synapse_bits"] += (active * (t.n_out * t.weight_bits + chip.axon_overhead_bits) if t.dense
                                       else t.n_out * len(op.operands) * (8 + chip.axon_overhead_bits))
            totals["state_bits"] += t.n_out * chip.neuron_state_bits
            totals["routing_bits"] += t.n_out * dests[name] * chip.routing_bits_per_axon
            totals["neurons"] += t.n_out
            totals["in_axons"] += active if t.dense else t.n_out * len(op.operands)
            next_core += t.count
        memory = chip.core_memory_bits
        stored = totals["synapse_bits"] + totals["state_bits"] + totals["routing_bits"]
        bounds = {"neurons per core": math.ceil(totals["neurons"] / chip.neurons_per_core),
                  "core memory": math.ceil(stored / memory),
                  "input axons per core": math.ceil(totals["in_axons"] / chip.max_in_axons)}
        lower = max(max(bounds.values()), 1 if per_op else 0)
        binding = max(bounds, key=lambda k: bounds[k])
        ctx.report.update({
            "system": system.name, "cores_used": next_core, "cores_lower_bound": lower,
            "chips_needed": -(-next_core // chip.cores_per_chip), "cores_available": system.cores,
            "core_memory_gb": {k: totals[k] / 8e9 for k in ("synapse_bits", "state_bits", "routing_bits")},
            "partition": per_op, "host_ops": host_ops(module),
        })
        if next_core > system.cores:
            core_map = [(name, v["cores"]) for name, v in per_op.items()]
            ctx.failure_notes.append(lambda directory: draw_core_map(directory / f"{self.name}-cores.png", core_map, system.cores))
            raise SbirError(f"the model needs {next_core:,} cores (bound by {binding}: {stored / 8e9:,.1f} GB of synapses, "
                            f"state and routing at {chip.core_memory_kib} KiB per core); {system.name} has {system.cores:,}"
                            f"{suggest(next_core, chip.cores_per_chip)}")
        put(ctx, Partitioning(where, {n: tiles[n] for n in per_op}, next_core))
        return True

    def _tile(self, ops: list[Op], chip: Any, default_bits: int, dests: dict[str, int]) -> dict[str, CoreOp]:
        out: dict[str, CoreOp] = {}
        for op in ops:
            name, n_out = op.result.name, op.result.type.shape[-1]
            d = dests.get(name, 1)
            if op.isa(Dense):
                n_in = op.operands[0].type.shape[-1]
                active = max(n_in - (silent_inputs(op) if self.skip_silent else 0), 1)
                out[name] = best_tiling(name, n_out, active, weight_bits_of(op, default_bits), chip, d)
            else:
                out[name] = population_tiling(name, n_out, len(op.operands), chip, d)
        return out


def _at(t: CoreOp, first: int) -> CoreOp:
    return CoreOp(t.value, t.dense, first, t.n_out, t.n_in, t.out_t, t.in_t, t.k_out, t.k_in, t.weight_bits)


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
            f"- {len(report.get('host_ops', []))} ops on the embedded or host processors", ""]
