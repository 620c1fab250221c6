"""The Loihi 2 machine model: a chip's structural limits, where each kind of op runs, the kinds
of messages, the cost figures (costs.py), and systems of chips. Every default carries a source
(`CHIP_SOURCES`, `COST_SOURCES`; docs/loihi2.md prints them); figures that public sources
disagree on are parameters (cores per chip: 128 per Lava, 122 usable per Hala Point's totals,
152 per a 2026 Intel paper)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from sbcompile.formats import NumberFormats
from sbcompile.ir import Op, SbirError
from sbcompile.ir.errors import validation_message

from sbcompile.loihi2_model import neuron_programs
from sbcompile.loihi2_model.costs import COST_SOURCES, Loihi2Costs

LOIHI2_FORMATS = NumberFormats(
    weight_bits=8,            # 8-bit weight mantissa (Lava Dense fixed_pt model)
    weight_scale="pow2",      # one weight exponent per synapse group (Dense weight_exp)
    weight_exp_range=(-7, 7),  # nengo-loihi's Loihi 1 synapse field; Loihi 2's is unpublished
    accumulator_bits=24,      # 24-bit neuron state in Lava's bit-accurate models
    payload_bits=24,          # graded spikes: 24-bit payloads in Lava's Py models (hardware: up to 32)
    threshold_mantissa_bits=17,  # vth is 17-bit unsigned, scaled by 2^6
    threshold_exp_range=(6, 6),
)

Where = Literal["core", "embedded", "host"]

# Where each op runs: by default where its neuron program runs (sbcompile/loihi2_model/neuron_programs.py:
# every op on neurocores but the embedding, on an embedded x86 processor, and the tokens, from the
# host); this table, by op class (class names of ir/dialects/*), overrides it: `core` = a
# neurocore, `embedded` = a chip's embedded x86 processors, `host` = the host CPU. An op without
# a neuron program runs on the host.
DEFAULT_PLACEMENT: dict[str, Where] = {}

# Simple operations per output element of an op off the neurocores (by op class): the work the
# embedded processors or the host do per token. Attention and GLA scale with their parameters
# (passes/schedule.py's `op_work`); a class not listed costs `default`.
DEFAULT_OPS_PER_ELEMENT: dict[str, float] = {
    "Encode": 6, "Decode": 2, "ReLU": 1, "SiLU": 10, "Sigmoid": 10, "LogSigmoid": 12, "Scale": 1, "Add": 1,
    "Mul": 1, "RoPE": 6, "RMSNorm": 5, "Embed": 1, "FakeQuant": 4, "Input": 0, "default": 4,
}

# Message kinds: payload bits each message carries (a routing header is added: `header_bits`).
DEFAULT_MESSAGE_PAYLOAD_BITS: dict[str, int] = {"spike": 8, "partial": 24, "value": 32}


class Loihi2Chip(BaseModel):
    """One chip. Per-core limits of Loihi 2 are not public; the axon limits default to Loihi 1's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cores_per_chip: int = Field(128, gt=0, description="neurocores per chip")
    neurons_per_core: int = Field(8192, gt=0, description="neurons (compartments) per core")
    core_memory_kib: int = Field(192, gt=0, description="memory per core in KiB, shared by synapses, neuron state and routing")
    neuron_state_bits: int = Field(48, ge=0, description="core memory per neuron: two 24-bit words (accumulator, output)")
    routing_bits_per_axon: int = Field(32, ge=0, description="core memory per output axon (routing table entry)")
    max_in_axons: int = Field(4096, gt=0, description="input axons per core (Loihi 1 anchor)")
    max_out_axons: int = Field(4096, gt=0, description="output axons per core (Loihi 1 anchor)")
    embedded_processors: int = Field(3, ge=0, description="embedded x86 (Lakemont) processors per chip")
    mesh: tuple[PositiveInt, PositiveInt] = Field((8, 16), description="neurocore mesh on the chip (columns, rows)")
    max_delay_steps: int = Field(63, ge=0, description="largest synaptic delay (6 bits)")
    axon_overhead_bits: int = Field(10, ge=0, description="synapse-memory bits per input axon beyond its weights "
                                    "(Loihi 1's per-run header, nengo-loihi SynapseConfig.bits_per_axon)")
    header_bits: int = Field(32, description="bits of a message beyond its payload (routing header)")
    message_payload_bits: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_MESSAGE_PAYLOAD_BITS),
                                                 description="payload bits per message kind")
    formats: NumberFormats = LOIHI2_FORMATS
    placement: dict[str, Where] = Field(default_factory=lambda: dict(DEFAULT_PLACEMENT),
                                        description="where op classes run, overriding their neuron programs")
    ops_per_element: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_OPS_PER_ELEMENT),
                                              description="simple ops per output element off the neurocores")

    @property
    def core_memory_bits(self) -> int:
        return self.core_memory_kib * 1024 * 8

    def message_bits(self, kind: str) -> int:
        return self.header_bits + self.message_payload_bits[kind]


CHIP_SOURCES: dict[str, str] = {
    "cores_per_chip": "Lava NUM_VIRTUAL_CORES_L2 = 128 (lava/magma/compiler/subcompilers/constants.py, v0.10.0); "
                      "Hala Point: 140,544 cores / 1,152 chips = 122 usable; an Intel paper says 152 (arXiv 2602.04717)",
    "neurons_per_core": "1,048,576 neurons per chip (Intel's Loihi 2 brief, 2021) over 128 cores",
    "core_memory_kib": "192 KB of SRAM per neurocore, shared flexibly by synapses, neuron state and routing "
                       "(Intel's Loihi 2 brief, 2021; about 25 MB per chip)",
    "neuron_state_bits": "Lava's bit-accurate models keep 24-bit state words; a graded accumulator needs its sum "
                         "and its output (assumption: two words; Loihi 2 allows up to 4,096 bytes per neuron)",
    "routing_bits_per_axon": "assumption: one 32-bit routing entry per output axon (Loihi 2's table format is not "
                             "published)",
    "max_in_axons": "Loihi 1: 4,096 input axons per core (nengo-loihi block.py MAX_IN_AXONS); Loihi 2 unpublished",
    "max_out_axons": "Loihi 1: 4,096 output axons per core (nengo-loihi block.py MAX_OUT_AXONS); Loihi 2 unpublished",
    "embedded_processors": "Lava MAX_EMBEDDED_CORES_PER_CHIP = 3 (constants.py); Hala Point's 'over 2,300' x86 "
                           "cores give about 2 per chip; press reports 6",
    "mesh": "8 x 16 neurocore mesh (press coverage of Intel's Loihi 2 brief)",
    "max_delay_steps": "Lava Dense bit-accurate model: 6-bit delays (lava/proc/dense/models.py)",
    "axon_overhead_bits": "Loihi 1 synapse encoding: a 10-bit header per axon run (nengo-loihi SynapseConfig)",
    "header_bits": "assumption: a 32-bit routing header per message (Loihi 2's packet format is not published)",
    "message_payload_bits": "spike counts of at most 8 bits (our encoders); 24-bit partial sums and values "
                            "(Lava's 24-bit graded payloads); floats to and from the processors 32 bits "
                            "(Loihi 2 carries up to 32-bit payloads, Intel's Loihi 2 brief)",
    "formats": "Lava Dense fixed_pt (8-bit weights, weight_exp), PyLifModelBitAcc (24-bit state, vth << 6)",
    "placement": "overrides by op class of where the neuron programs run (sbcompile/loihi2_model/neuron_programs.py, "
                 "docs/loihi2.md): by default every op on neurocores but the embedding (an embedded processor)",
    "ops_per_element": "assumption: simple operations per element, counted by hand for each op's formula",
}

SOURCES: dict[str, str] = {**CHIP_SOURCES, **COST_SOURCES}


class Loihi2System(BaseModel):
    """Chips on a board or in a rack, linked in a 2-D chip mesh."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    chips: int = Field(1, ge=1)
    chip_mesh: tuple[PositiveInt, PositiveInt] = Field((1, 1), description="chips arranged as (columns, rows)")
    chip: Loihi2Chip = Loihi2Chip()
    costs: Loihi2Costs = Loihi2Costs()

    @property
    def cores(self) -> int:
        return self.chips * self.chip.cores_per_chip

    @property
    def formats(self) -> NumberFormats:
        return self.chip.formats

    def where(self, op: Op) -> Where:
        """`core`, `embedded` or `host`: the placement table's entry for the op's class, else where
        its neuron program runs, else (no program) the host."""
        listed = self.chip.placement.get(type(op.opdef).__name__)
        if listed is not None:
            return listed
        try:
            runs = neuron_programs.placement(op)
        except ValueError:
            return "host"
        return "core" if runs == "neurocore" else runs


SYSTEMS: dict[str, Loihi2System] = {
    "loihi2-chip": Loihi2System(name="loihi2-chip"),
    "kapoho-point": Loihi2System(name="kapoho-point", chips=8, chip_mesh=(4, 2)),
    # Hala Point: 1,152 chips and 140,544 cores, i.e. 122 usable cores per chip.
    "hala-point": Loihi2System(name="hala-point", chips=1152, chip_mesh=(32, 36), chip=Loihi2Chip(cores_per_chip=122)),
}


def load_system(spec: str | None, overrides: dict[str, str] | None = None) -> Loihi2System:
    """A preset name or a JSON file, then `key=value` overrides (`chip.cores_per_chip=152`)."""
    if spec is None:
        system = SYSTEMS["loihi2-chip"]
    elif spec in SYSTEMS:
        system = SYSTEMS[spec]
    elif Path(spec).exists():
        try:
            system = Loihi2System.model_validate(json.loads(Path(spec).read_text()))
        except (ValueError, json.JSONDecodeError) as e:
            raise SbirError(f"{spec}: not a valid Loihi 2 system description: {validation_message(e)}") from None
    else:
        raise SbirError(f"unknown system '{spec}'; presets: {', '.join(SYSTEMS)}, or a JSON file")
    if overrides:
        data = system.model_dump()
        for key, value in overrides.items():
            node = data
            *path, last = key.split(".")
            for part in path:
                if not isinstance(node.get(part), dict):
                    raise SbirError(f"--system option '{key}': no such field")
                node = node[part]
            if last not in node:
                raise SbirError(f"--system option '{key}': no such field (fields: {', '.join(node)})")
            node[last] = json.loads(value) if value[:1] in "[{0123456789-" or value in ("true", "false") else value
        try:
            system = Loihi2System.model_validate(data)
        except ValueError as e:
            raise SbirError(f"--system-set: {validation_message(e)}") from None
    return system
