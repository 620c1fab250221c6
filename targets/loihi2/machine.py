"""The Loihi 2 machine model: a chip, and systems of chips. Every default is cited in
docs/loihi2.md; figures that public sources disagree on are parameters (cores per chip: 128 per
Lava and wikichip, 122 usable per Hala Point's totals, 152 per a 2026 Intel paper)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from sbcompile.formats import NumberFormats
from sbcompile.ir import SbirError
from sbcompile.ir.errors import validation_message

LOIHI2_FORMATS = NumberFormats(
    weight_bits=8,            # 8-bit weight mantissa (Lava Dense fixed_pt model)
    weight_scale="pow2",      # one weight exponent per synapse group (Dense weight_exp)
    weight_exp_range=(-7, 7),  # nengo-loihi's Loihi 1 synapse field; Loihi 2's is unpublished
    accumulator_bits=24,      # 24-bit neuron state in Lava's bit-accurate models
    payload_bits=24,          # graded spikes: 24-bit payloads in Lava's Py models (hardware: up to 32)
    threshold_mantissa_bits=17,  # vth is 17-bit unsigned, scaled by 2^6
    threshold_exp_range=(6, 6),
)


class Loihi2Chip(BaseModel):
    """One chip. Per-core limits of Loihi 2 are not public; the axon limits default to Loihi 1's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cores_per_chip: int = Field(128, gt=0, description="neurocores per chip")
    neurons_per_core: int = Field(8192, gt=0, description="neurons (compartments) per core")
    synapse_memory_kib: int = Field(128, gt=0, description="synaptic memory per core in KiB (public figures: 128-192)")
    max_in_axons: int = Field(4096, gt=0, description="input axons per core (Loihi 1 anchor)")
    max_out_axons: int = Field(4096, gt=0, description="output axons per core (Loihi 1 anchor)")
    embedded_processors: int = Field(6, ge=0, description="embedded x86 (Lakemont) processors per chip")
    mesh: tuple[PositiveInt, PositiveInt] = Field((8, 16), description="neurocore mesh on the chip (columns, rows)")
    max_delay_steps: int = Field(63, ge=0, description="largest synaptic delay (6 bits)")
    axon_overhead_bits: int = Field(10, ge=0, description="synapse-memory bits per input axon beyond its weights "
                                    "(Loihi 1's per-run header, nengo-loihi SynapseConfig.bits_per_axon)")
    formats: NumberFormats = LOIHI2_FORMATS
    core_ops: tuple[str, ...] = Field(("syn.dense", "neuron.lif", "neuron.loihi_lif"), description="ops a neurocore executes")
    embedded_ops: tuple[str, ...] = Field(
        ("spike.encode", "spike.decode", "nn.relu", "nn.silu", "nn.sigmoid", "nn.logsigmoid", "nn.scale", "nn.add",
         "nn.mul", "seq.rope"),
        description="ops the embedded processors execute (elementwise work and the per-token threshold reduction); "
                    "the rest runs on the host")

    @property
    def synapse_memory_bits(self) -> int:
        return self.synapse_memory_kib * 1024 * 8


class Loihi2System(BaseModel):
    """Chips on a board or in a rack, linked in a 2-D chip mesh."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    chips: int = Field(1, ge=1)
    chip_mesh: tuple[PositiveInt, PositiveInt] = Field((1, 1), description="chips arranged as (columns, rows)")
    chip: Loihi2Chip = Loihi2Chip()

    @property
    def cores(self) -> int:
        return self.chips * self.chip.cores_per_chip

    @property
    def formats(self) -> NumberFormats:
        return self.chip.formats

    def where(self, op_name: str) -> str:
        """`core`, `embedded` or `host`: where an op of this kind runs."""
        if op_name in self.chip.core_ops:
            return "core"
        return "embedded" if op_name in self.chip.embedded_ops else "host"


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
