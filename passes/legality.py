"""Legality of a core's contents: one small named rule per hardware limit. Each failure names
the op, the core, the resource, and what it needs against what the core has."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class TileUse:
    """What one tile puts on one core."""

    neurons: int
    in_axons: int
    synapse_bits: int
    state_bits: int = 0
    routing_bits: int = 0
    out_axons: int = 0

    @property
    def memory_bits(self) -> int:
        """Core memory is shared by synapses, neuron state and routing tables."""
        return self.synapse_bits + self.state_bits + self.routing_bits


@dataclass(frozen=True)
class Rule:
    name: str
    resource: str
    need: Callable[[TileUse], int]
    have: Callable[[Any], int]


RULES: tuple[Rule, ...] = (
    Rule("neurons-per-core", "neurons", lambda t: t.neurons, lambda chip: chip.neurons_per_core),
    Rule("input-axons-per-core", "input axons", lambda t: t.in_axons, lambda chip: chip.max_in_axons),
    Rule("output-axons-per-core", "output axons", lambda t: t.out_axons, lambda chip: chip.max_out_axons),
    Rule("core-memory-per-core", "bits of core memory (synapses, neuron state, routing)", lambda t: t.memory_bits,
         lambda chip: chip.core_memory_bits),
)


def violations(use: TileUse, chip: Any, op: str, core: int) -> list[str]:
    """Every rule this tile breaks, as messages."""
    out = []
    for r in RULES:
        need, have = r.need(use), r.have(chip)
        if need > have:
            out.append(f"{r.name}: {op} on core {core} needs {need:,} {r.resource}, a core has {have:,}")
    return out
