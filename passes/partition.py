"""Partition: every synaptic projection and neuron population onto neurocores, within the
per-core limits of the target's machine description; everything else onto the embedded or host
processors."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sbcompile.ir import Module, Op, SbirError
from sbcompile.pictures import draw_core_map

from .base import Pass, PassContext, option
from .legality import TileUse, violations
from .registry import register_pass


@dataclass(frozen=True)
class Tiling:
    """A projection [out, in] cut into `k_out` x `k_in` tiles of at most `out_t` x `in_t`."""

    out: int
    inp: int
    out_t: int
    in_t: int

    @property
    def k_out(self) -> int:
        return -(-self.out // self.out_t)

    @property
    def k_in(self) -> int:
        return -(-self.inp // self.in_t)

    @property
    def tiles(self) -> int:
        return self.k_out * self.k_in


def synapse_bits(out_t: int, in_t: int, weight_bits: int, axon_overhead: int) -> int:
    """Synapse memory of one tile: every input axon holds its row of weights and a header."""
    return in_t * (out_t * weight_bits + axon_overhead)


def best_tiling(out: int, inp: int, weight_bits: int, chip: Any) -> Tiling:
    """The tiling with the fewest cores; among equals, the fewest input splits (each input split
    costs a partial-sum merge)."""
    memory = chip.synapse_memory_kib * 1024 * 8
    best: Tiling | None = None
    k_in = max(1, -(-inp // chip.max_in_axons))
    while k_in <= inp:
        in_t = -(-inp // k_in)
        per_axon = memory // in_t - chip.axon_overhead_bits
        out_t = min(chip.neurons_per_core, out, per_axon // weight_bits if per_axon > 0 else 0)
        if out_t >= 1:
            t = Tiling(out, inp, out_t, in_t)
            if best is None or t.tiles < best.tiles:
                best = t
            if t.k_in >= best.tiles:  # more input splits can no longer win
                break
        k_in += 1
    if best is None:
        need = synapse_bits(1, -(-inp // max(1, -(-inp // chip.max_in_axons))), weight_bits, chip.axon_overhead_bits)
        raise SbirError(f"synapse-memory-per-core: one neuron's synapses ({need:,} bits) exceed a core's "
                        f"{memory:,} bits even split across the input axons")
    return best


def silent_inputs(op: Op) -> int:
    """Input channels that calibration found silent (their synapses never receive a spike)."""
    src = op.operands[0].owner
    if src is None or src.name != "spike.encode" or "calib.rate" not in src.attrs:
        return 0
    return sum(1 for r in src.attrs["calib.rate"] if r == 0)


def weight_bits_of(op: Op, fallback: int) -> int:
    return int(op.attrs.get("quant.bits", fallback))


@register_pass
@dataclass(frozen=True)
class Partition(Pass):
    """Tiles every synaptic projection (`syn.dense`: one neuron per output channel, one axon per
    input channel) and neuron population onto neurocores so that no core exceeds its neurons,
    input axons or synapse memory (weights at their quantized width, else the machine's), with
    calibrated silent input channels left out. Ops no neurocore executes go to the embedded
    processors or the host, as the machine description says, and the report lists them with the
    bytes per token that cross between them and the cores.

    Requires: a Loihi-style machine description (`ctx.machine` with `chip` limits and `where()`).
    Every tile is checked against the named legality rules (passes/legality.py), one per limit.
    Guarantees: every core op carries `hw.where = "core"`, its tiling (`hw.tile` = [out_t, in_t],
    `hw.tiles` = [k_out, k_in]) and its cores (`hw.cores` = [first, count]); every other op carries
    `hw.where`. A model that does not fit fails naming the limit and a system that would fit."""

    name = "partition"
    skip_silent: bool = option(True, "leave calibrated silent input channels out of the synapse memory")

    report_rank = 50

    @classmethod
    def report_section(cls, report: dict) -> list[str]:
        if "cores_used" not in report:
            return []
        return ["## Mapping", "", f"- {report['cores_used']:,} cores (lower bound {report['cores_lower_bound']:,}) on "
                f"{report['chips_used']:,} chips of {report['system']}",
                f"- {len(report.get('host_ops', []))} ops on the embedded or host processors", ""]

    def run(self, module: Module, ctx: PassContext) -> bool:
        system = ctx.machine
        if system is None or not hasattr(system, "chip"):
            raise SbirError(f"partition needs a neuromorphic machine description (target '{ctx.target}' has none; use -t loihi2)")
        chip = system.chip
        next_core = 0
        per_op: dict[str, dict] = {}
        totals = {"neurons": 0, "synapse_bits": 0, "in_axons": 0}
        for i, op in enumerate(module.ops):
            ctx.progress("partition", i / max(len(module.ops), 1))
            where = system.where(op.name)
            op.attrs["hw.where"] = where
            if where != "core":
                continue
            shape = op.result.type.shape
            out = shape[-1]
            if op.name == "syn.dense":
                inp = op.operands[0].type.shape[-1]
                inp_active = inp - (silent_inputs(op) if self.skip_silent else 0)
                bits = weight_bits_of(op, system.formats.weight_bits)
                tiling = best_tiling(out, max(inp_active, 1), bits, chip)
                # at least every weight once and every input axon once, however it is tiled
                totals["synapse_bits"] += inp_active * (out * bits + chip.axon_overhead_bits)
                totals["in_axons"] += inp_active
            else:  # a neuron population: neurons only
                bits = 0
                tiling = Tiling(out, 1, min(out, chip.neurons_per_core), 1)
            totals["neurons"] += out
            use = TileUse(tiling.out_t, tiling.in_t if op.name == "syn.dense" else 0,
                          synapse_bits(tiling.out_t, tiling.in_t, bits, chip.axon_overhead_bits) if op.name == "syn.dense" else 0)
            broken = violations(use, chip, f"{op.name} %{op.result.name}", next_core)
            if broken:
                raise SbirError("; ".join(broken), op.where())
            op.attrs["hw.tile"] = (tiling.out_t, tiling.in_t)
            op.attrs["hw.tiles"] = (tiling.k_out, tiling.k_in)
            op.attrs["hw.cores"] = (next_core, tiling.tiles)
            per_op[op.result.name] = {"op": op.name, "shape": [out, tiling.inp], "tile": [tiling.out_t, tiling.in_t],
                                      "tiles": [tiling.k_out, tiling.k_in], "cores": tiling.tiles}
            next_core += tiling.tiles
        memory = chip.synapse_memory_kib * 1024 * 8
        bounds = {"neurons per core": math.ceil(totals["neurons"] / chip.neurons_per_core),
                  "synapse memory per core": math.ceil(totals["synapse_bits"] / memory),
                  "input axons per core": math.ceil(totals["in_axons"] / chip.max_in_axons)}
        lower = max(max(bounds.values()), 1 if per_op else 0)
        binding = max(bounds, key=lambda k: bounds[k])
        chips_used = -(-next_core // chip.cores_per_chip)
        ctx.report.update({
            "system": system.name, "cores_used": next_core, "cores_lower_bound": lower, "chips_used": chips_used,
            "cores_available": system.cores, "partition": per_op, "host_ops": host_ops(module),
        })
        if next_core > system.cores:
            core_map = [(name, v["cores"]) for name, v in per_op.items()]
            ctx.failure_notes.append(lambda directory: draw_core_map(directory / f"{self.name}-cores.png", core_map, system.cores))
            raise SbirError(f"the model needs {next_core:,} cores (bound by {binding}: {totals['synapse_bits'] / 8e9:,.1f} GB "
                            f"of synapses at {chip.synapse_memory_kib} KiB per core); {system.name} has {system.cores:,}"
                            f"{suggest(next_core, chip.cores_per_chip)}")
        return True


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
